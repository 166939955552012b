//! API key authentication: `Authorization: Bearer <key>`.
//!
//! A valid key is cached for a few seconds (`SUBLEDGER_KEY_CACHE_SECONDS`), so most requests
//! skip reading it. Keys are never changed in place. A key deleted from `api_keys` is
//! rejected once its cache entry has expired. Invalid keys are read every time and never
//! cached.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    let presented = presented.trim();
    let digest = tenancy::key_digest(presented);
    if let Some(caller) = digest.as_ref().and_then(|digest| state.keys.get(digest)) {
        return Ok(caller);
    }
    let client = state.pool.get().await?;
    match tenancy::authenticate(&client, presented).await? {
        Some(caller) => {
            if let Some(digest) = digest {
                state.keys.insert(digest, caller);
            }
            Ok(caller)
        }
        None => {
            Err(Error::new(ErrorCode::Unauthorized, "the API key is not valid")
                .field("Authorization"))
        }
    }
}

/// Maximum number of cached keys. A full cache drops its expired entries, or all of them.
const MAX_CACHED_KEYS: usize = 10_000;

/// Valid keys seen in the last `ttl`, by [`tenancy::key_digest`], so that every spelling of a
/// key shares one entry.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (caller, checked_at) = entries.get(digest)?;
        (checked_at.elapsed() < self.ttl).then_some(*caller)
    }

    fn insert(&self, digest: [u8; 32], caller: Caller) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_CACHED_KEYS {
            entries.retain(|_, (_, checked_at)| checked_at.elapsed() < self.ttl);
            if entries.len() >= MAX_CACHED_KEYS {
                entries.clear();
            }
        }
        entries.insert(digest, (caller, Instant::now()));
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
