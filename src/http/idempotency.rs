//! Idempotent writes. Every POST carries an `Idempotency-Key`; the response is stored in the
//! same transaction as the write, so a retry replays it, a stored failure included, and the
//! same key with another request gets 409.
//!
//! The record is inserted after the work, with `ON CONFLICT DO NOTHING`: a concurrent duplicate
//! blocks on the unique key until the first transaction commits, then rolls its own work back
//! and replays the stored response. This costs one statement on the normal path.

use std::future::{ready, Ready};

use actix_web::http::StatusCode;
use actix_web::{dev::Payload, FromRequest, HttpRequest, HttpResponse};
use deadpool_postgres::{GenericClient, Transaction};
use futures::future::LocalBoxFuture;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{problem, AppState};
use crate::db::tenancy::Caller;
use crate::error::{Error, ErrorCode};

/// Longest accepted key, in characters.
const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header of a write.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl FromRequest for IdempotencyKey {
    type Error = Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let header = req.headers().get("idempotency-key").map(|value| value.to_str());
        let result = match header {
            None => Err(Error::new(
                ErrorCode::IdempotencyKeyMissing,
                "every POST needs an Idempotency-Key header, unique per logical request",
            )),
            Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_KEY_LEN => {
                Ok(IdempotencyKey(key.to_string()))
            }
            Some(_) => Err(Error::new(
                ErrorCode::InvalidParameter,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
            .field("Idempotency-Key")),
        };
        ready(result)
    }
}

/// A successful result, stored for replay and sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn created(body: &impl Serialize) -> Result<Reply, Error> {
        Ok(Reply { status: 201, body: serde_json::to_value(body).map_err(Error::internal)? })
    }

    pub fn ok(body: &impl Serialize) -> Result<Reply, Error> {
        Ok(Reply { status: 200, body: serde_json::to_value(body).map_err(Error::internal)? })
    }
}

/// Identifies a request: method, path and canonical JSON body (object keys sorted).
pub fn fingerprint(req: &HttpRequest, body: &Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().to_vec()
}

struct Stored {
    request_sha256: Vec<u8>,
    status: u16,
    body: Value,
}

/// Runs `operation` in one transaction under `key`, or replays the stored response.
pub async fn execute<F>(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: Vec<u8>,
    operation: F,
) -> HttpResponse
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    match run(state, caller, key, &request_sha256, operation).await {
        Ok(response) => response,
        Err(error) => problem::response(&error),
    }
}

async fn run<F>(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: &[u8],
    operation: F,
) -> Result<HttpResponse, Error>
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(stored) = lookup(&tx, caller.tenant_id, &key.0).await? {
        return replay(stored, request_sha256);
    }
    let outcome = operation(&tx).await;
    let (status, body) = match &outcome {
        Ok(reply) => (reply.status, reply.body.clone()),
        Err(error) if error.is_rejection() => (error.code.status(), problem_body(error)),
        Err(_) => (0, Value::Null),
    };
    if let Err(error) = outcome.as_ref().map(|_| ()) {
        if !error.is_rejection() {
            // A concurrent duplicate may have made the work fail (a unique key taken by the
            // request that won): its stored response is then the answer.
            tx.rollback().await?;
            if let Some(stored) = lookup(&client, caller.tenant_id, &key.0).await? {
                return replay(stored, request_sha256);
            }
            return Err(outcome.err().unwrap_or_else(|| Error::internal(anyhow::anyhow!("lost"))));
        }
        // A rejection writes nothing but its record, so the work is rolled back first.
        tx.rollback().await?;
        let tx = client.transaction().await?;
        return store_and_respond(tx, caller, key, request_sha256, status, body).await;
    }
    store_and_respond(tx, caller, key, request_sha256, status, body).await
}

async fn store_and_respond(
    tx: Transaction<'_>,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: &[u8],
    status: u16,
    body: Value,
) -> Result<HttpResponse, Error> {
    let inserted = tx
        .execute(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&caller.tenant_id, &key.0, &request_sha256, &(status as i16), &body],
        )
        .await?;
    if inserted == 0 {
        let stored = lookup(&tx, caller.tenant_id, &key.0).await?;
        tx.rollback().await?;
        let stored = stored
            .ok_or_else(|| Error::internal(anyhow::anyhow!("idempotency record vanished")))?;
        return replay(stored, request_sha256);
    }
    tx.commit().await?;
    Ok(respond(status, &body, false))
}

async fn lookup(
    client: &impl GenericClient,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<Stored>, Error> {
    let row = client
        .query_opt(
            "SELECT request_sha256, status_code, response FROM idempotency_keys \
             WHERE tenant_id = $1 AND key = $2",
            &[&tenant_id, &key],
        )
        .await?;
    Ok(row.map(|row| Stored {
        request_sha256: row.get(0),
        status: row.get::<_, i16>(1) as u16,
        body: row.get(2),
    }))
}

fn replay(stored: Stored, request_sha256: &[u8]) -> Result<HttpResponse, Error> {
    if stored.request_sha256 != request_sha256 {
        return Err(Error::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request; use a new key",
        )
        .field("Idempotency-Key"));
    }
    Ok(respond(stored.status, &stored.body, true))
}

fn problem_body(error: &Error) -> Value {
    serde_json::to_value(problem::Problem::from_error(error)).unwrap_or(Value::Null)
}

fn respond(status: u16, body: &Value, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type =
        if status.is_success() { "application/json" } else { "application/problem+json" };
    let mut response = HttpResponse::build(status);
    response.content_type(content_type);
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(body)
}
