//! Request body, path and query parsing with errors that name the field and the value.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorCode};

/// Largest accepted JSON body, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(MAX_BODY_BYTES).error_handler(json_error)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        Error::new(ErrorCode::InvalidParameter, format!("invalid path parameter: {err}")).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        Error::new(ErrorCode::InvalidParameter, format!("invalid query parameter: {err}")).into()
    })
}

fn json_error(err: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    let error = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            Error::new(ErrorCode::PayloadTooLarge, format!("request body exceeds {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            let found = req.headers().get("content-type").map(|value| value.as_bytes());
            let found = String::from_utf8_lossy(found.unwrap_or_default()).into_owned();
            Error::new(
                ErrorCode::MalformedJson,
                "request body must be JSON sent with Content-Type: application/json",
            )
            .field("Content-Type")
            .value(found)
        }
        JsonPayloadError::Deserialize(inner) => {
            Error::new(ErrorCode::MalformedJson, format!("request body is not valid JSON: {inner}"))
        }
        _ => Error::new(ErrorCode::MalformedJson, format!("cannot read request body: {err}")),
    };
    error.into()
}

/// Converts a parsed JSON body into `T`, naming the JSON path of the first field that does not
/// fit (`lines[1].amount`) and the value found there, or the path of a missing field.
pub fn typed<T: DeserializeOwned>(body: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(body).map_err(|err| {
        let message = err.inner().to_string();
        let path = err.path().to_string();
        // serde reports a missing field at the object that lacks it, so its name is added.
        if let Some(name) = missing_field_name(&message) {
            let path = if path == "." { name.to_string() } else { format!("{path}.{name}") };
            return Error::new(ErrorCode::InvalidField, format!("{path}: missing required field"))
                .field(path);
        }
        let found = value_at(body, &path);
        let mut error =
            Error::new(ErrorCode::InvalidField, format!("{path}: {message}")).field(path);
        if let Some(found) = found {
            error = error.value(found);
        }
        error
    })
}

/// Returns the field name of serde's "missing field `name`" message.
fn missing_field_name(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// Parses an optional JSON body: an empty body reads as `{}`.
pub fn optional_json(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        Error::new(ErrorCode::MalformedJson, format!("request body is not valid JSON: {err}"))
    })
}

/// Finds the value at a serde_path_to_error path (`a.b[2].c`); `None` when it is missing.
fn value_at(body: &Value, path: &str) -> Option<Value> {
    if path == "." {
        return None;
    }
    let mut current = body;
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split(['[', ']']).filter(|part| !part.is_empty()) {
            current = current.get(index.parse::<usize>().ok()?)?;
        }
    }
    Some(current.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        #[serde(with = "crate::money::amount_str")]
        amount: rust_decimal::Decimal,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        lines: Vec<Line>,
    }

    #[test]
    fn typed_names_field_and_value() {
        let body = serde_json::json!({ "lines": [{ "amount": "1.00" }, { "amount": 2.5 }] });
        let err = typed::<Body>(&body).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("lines[1].amount"));
        assert_eq!(err.value, Some(serde_json::json!(2.5)));
    }

    #[test]
    fn typed_names_missing_field() {
        let nested = serde_json::json!({ "lines": [{ "amount": "1.00" }, {}] });
        let err = typed::<Body>(&nested).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert_eq!(err.field.as_deref(), Some("lines[1].amount"));
        assert_eq!(err.value, None);
        assert_eq!(err.detail, "lines[1].amount: missing required field");

        let top = serde_json::json!({});
        let err = typed::<Body>(&top).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("lines"));
        assert_eq!(err.detail, "lines: missing required field");
    }
}
