//! API key authentication: `Authorization: Bearer <key>`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::AppState;
use crate::db::tenancy::{self, Caller, KeyKind};
use crate::error::{Error, ErrorCode};

/// A caller whose key may read.
pub struct Reader(pub Caller);

/// A caller whose key may write.
pub struct Writer(pub Caller);

async fn authenticate(req: HttpRequest) -> Result<Caller, Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("application state is not configured")))?;
    let header = req.headers().get("authorization").and_then(|value| value.to_str().ok());
    let Some(presented) = header.and_then(|value| value.strip_prefix("Bearer ")) else {
        return Err(Error::new(
            ErrorCode::Unauthorized,
            "send the tenant's API key as `Authorization: Bearer <key>`",
        )
        .field("Authorization"));
    };
    let client = state.pool.get().await?;
    match tenancy::authenticate(&client, presented.trim()).await? {
        Some(caller) => Ok(caller),
        None => {
            Err(Error::new(ErrorCode::Unauthorized, "the API key is not valid")
                .field("Authorization"))
        }
    }
}

impl FromRequest for Reader {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Reader) })
    }
}

impl FromRequest for Writer {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(req).await?;
            if caller.kind != KeyKind::Write {
                return Err(Error::new(ErrorCode::ReadOnlyKey, "a read-only key cannot write")
                    .field("Authorization"));
            }
            Ok(Writer(caller))
        })
    }
}

/// Declares the bearer API key in the OpenAPI document.
pub struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}
