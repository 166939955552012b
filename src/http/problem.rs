//! RFC 9457 problem+json responses for every error of the error table.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, ErrorCode, PROBLEM_TYPE_PREFIX};

/// The problem+json body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:subledger:problem:<code>`, stable for each error code.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The stable error code, as in `type`.
    pub code: &'static str,
    /// The request field at fault, as a JSON path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rejected value, of any JSON type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub value: Option<Value>,
}

impl Problem {
    pub fn from_error(error: &Error) -> Problem {
        Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{}", error.code.code()),
            title: error.code.title(),
            status: error.code.status(),
            detail: error.detail.clone(),
            code: error.code.code(),
            field: error.field.clone(),
            value: error.value.clone(),
        }
    }
}

/// Builds the HTTP response for `error`, logging 5xx errors with their cause.
pub fn response(error: &Error) -> HttpResponse {
    if !error.is_rejection() {
        tracing::error!(error.code = error.code.code(), error = %error, "request failed");
    }
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(Problem::from_error(error))
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        response(self)
    }
}

/// Builds the response to a request that no route serves: 405 with an `Allow` header when the path is a
/// route of `document` served for other methods, 404 otherwise.
pub fn route_not_found(req: &HttpRequest, document: &utoipa::openapi::OpenApi) -> HttpResponse {
    let allowed = allowed_methods(document, req.path());
    if allowed.is_empty() {
        return response(
            &Error::new(
                ErrorCode::NotFound,
                format!("no route for {} {}", req.method(), req.path()),
            )
            .value(req.path().to_string()),
        );
    }
    let allow = allowed.join(", ");
    let error = Error::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}; use {allow}", req.method(), req.path()),
    )
    .value(req.method().as_str());
    let mut reply = response(&error);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        reply.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    reply
}

/// Methods the document serves on `path`, matching `{name}` templates to one segment.
fn allowed_methods(document: &utoipa::openapi::OpenApi, path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(part, segment)| {
                (part.starts_with('{') && !segment.is_empty()) || part == segment
            })
    };
    let mut methods = Vec::new();
    for (template, item) in &document.paths.paths {
        if !matches(template) {
            continue;
        }
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        methods.extend(
            operations.iter().filter(|(_, op)| op.is_some()).map(|(name, _)| name.to_string()),
        );
    }
    methods
}
