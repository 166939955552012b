//! Idempotent writes. Every POST carries an `Idempotency-Key`; the response is stored in the
//! same transaction as the write, so a retry replays it, a stored failure included, and the
//! same key with another request gets 409.
//!
//! The record is inserted after the work, in the round trip of the COMMIT. A concurrent
//! duplicate blocks on the unique key until the first transaction commits. Its insert then
//! fails, so its COMMIT rolls its own work back, and it replays the stored response. The key
//! is also looked up before the work, so that a plain retry does no work. For an invoice, that
//! lookup shares a round trip with the work's first reads.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::task::Poll;

use actix_web::http::StatusCode;
use actix_web::{dev::Payload, FromRequest, HttpRequest, HttpResponse};
use deadpool_postgres::{GenericClient, Transaction};
use futures::future::{self, Either, LocalBoxFuture};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::Statement;
use uuid::Uuid;

use super::{problem, AppState};
use crate::db::{self, tenancy::Caller};
use crate::error::{Error, ErrorCode};

/// Longest accepted key, in characters.
pub(super) const MAX_KEY_LEN: usize = 255;

/// Returns whether `key` is 1 to 255 visible ASCII characters (space and tab included), as an
/// `Idempotency-Key` header carries. Batch keys follow the same rule, so that a batched write
/// can be replayed through its own route.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|byte| byte == b'\t' || (0x20..0x7f).contains(&byte))
}

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
            )
            .field("Idempotency-Key")),
            Some(Ok(key)) if is_valid_key(key) => Ok(IdempotencyKey(key.to_string())),
            Some(_) => {
                let found = req.headers().get("idempotency-key").map(|value| value.as_bytes());
                let found = String::from_utf8_lossy(found.unwrap_or_default()).into_owned();
                Err(Error::new(
                    ErrorCode::InvalidParameter,
                    format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
                )
                .field("Idempotency-Key")
                .value(found))
            }
        };
        ready(result)
    }
}

/// Documents the header in the OpenAPI description of a route that takes it.
impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_LEN));
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(utoipa::openapi::Required::True)
            .description(Some(
                "Unique per logical request. A retry with the same key and body gets the stored \
                 response. The same key with another body gets a 409.",
            ))
            .schema(Some(schema))
            .build();
        vec![parameter]
    }
}

/// A response body as JSON text, serialized once, then stored for replay and sent unchanged.
pub type Body = Box<RawValue>;

/// A successful result, stored for replay and sent.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Body,
}

impl Reply {
    pub fn created(body: &impl Serialize) -> Result<Reply, Error> {
        Ok(Reply { status: 201, body: body_of(body)? })
    }

    pub fn ok(body: &impl Serialize) -> Result<Reply, Error> {
        Ok(Reply { status: 200, body: body_of(body)? })
    }
}

/// Serializes a response body once. The text is stored as it is sent, so a replay matches it
/// byte for byte.
pub(super) fn body_of(value: &impl Serialize) -> Result<Body, Error> {
    serde_json::value::to_raw_value(value).map_err(Error::internal)
}

/// Identifies a request: method, path and canonical JSON body (object keys sorted).
pub fn fingerprint(req: &HttpRequest, body: &Value) -> Vec<u8> {
    fingerprint_of(req.method().as_str(), req.path(), body)
}

/// Identifies a request given its parts, so a document sent inside a batch matches the same
/// document sent alone to `path`.
pub fn fingerprint_of(method: &str, path: &str, body: &Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().to_vec()
}

pub(super) struct Stored {
    pub(super) request_sha256: Vec<u8>,
    pub(super) status: u16,
    pub(super) body: Body,
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
    let outcome = run(state, caller, key, &request_sha256, Start::AfterLookup, operation).await;
    outcome.unwrap_or_else(|error| problem::response(&error))
}

/// Runs `operation` as [`execute`] does, but sends its first statements in the round trip of
/// the key's lookup. Those statements should only read or take `FOR KEY SHARE` locks, because
/// they run even when a response is stored, and the replay waits for them to be rolled back.
/// A stronger lock would make replays wait for every other writer of the same rows.
pub async fn execute_reading_early<F>(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: Vec<u8>,
    operation: F,
) -> HttpResponse
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    let outcome = run(state, caller, key, &request_sha256, Start::WithLookup, operation).await;
    outcome.unwrap_or_else(|error| problem::response(&error))
}

/// When the work of a write starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Once the lookup has found no stored response.
    AfterLookup,
    /// With the lookup, its first statements in the lookup's round trip.
    WithLookup,
}

async fn run<F>(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: &[u8],
    start: Start,
    operation: F,
) -> Result<HttpResponse, Error>
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // Prepared first (nothing is sent once the connection has it), so that the setting and the
    // lookup are both sent on the first poll below, ahead of any statement of the work.
    let lookup_statement = tx.prepare_cached(LOOKUP).await?;
    // The work's outcome, or `Err` with the response stored under the key once the work began.
    let result = {
        let looked_up = std::pin::pin!(async {
            let lookup = lookup_prepared(&tx, &lookup_statement, caller.tenant_id, &key.0);
            let (generic, found) = tokio::join!(db::use_generic_plans(&tx), lookup);
            generic?;
            found
        });
        match start {
            Start::AfterLookup => {
                if let Some(stored) = looked_up.await? {
                    return replay(stored, request_sha256, &key.0);
                }
                Ok(operation(&tx).await)
            }
            Start::WithLookup => {
                // The lookup is polled first, so its messages go out first, and its reply comes
                // back before the reply to anything the work sent. A stored response therefore
                // stops the work before it has read anything, and what it sent is rolled back.
                let (found, work) = match future::select(looked_up, operation(&tx)).await {
                    Either::Left((found, work)) => (found?, Either::Left(work)),
                    // The work ended first: it failed before any of its statements had a reply.
                    Either::Right((result, looked_up)) => (looked_up.await?, Either::Right(result)),
                };
                match (found, work) {
                    (Some(stored), _) => Err(stored),
                    (None, Either::Left(work)) => Ok(work.await),
                    (None, Either::Right(result)) => Ok(result),
                }
            }
        }
    };
    let result = match result {
        Ok(result) => result,
        Err(stored) => {
            // The work's first statements may still wait for a lock (a seller's agreement being
            // changed). The ROLLBACK is awaited, so that this replay waits for them rather than
            // the next request given this connection.
            tx.rollback().await?;
            return replay(stored, request_sha256, &key.0);
        }
    };
    let (status, body) = match result {
        Ok(reply) => (reply.status, reply.body),
        Err(error) if error.is_rejection() => {
            // A rejection writes nothing but its record, so the work is rolled back first.
            tx.rollback().await?;
            let tx = client.transaction().await?;
            let (status, body) = (error.code.status(), problem_body(&error));
            if store_and_commit(tx, caller, key, request_sha256, status, &body).await? {
                return Ok(respond(status, body, false));
            }
            return replay_taken(&client, caller, key, request_sha256).await;
        }
        Err(error) => {
            // A concurrent duplicate may have made the work fail, because the request that won
            // took a unique key. Its stored response is then returned.
            tx.rollback().await?;
            if let Some(stored) = lookup(&client, caller.tenant_id, &key.0).await? {
                return replay(stored, request_sha256, &key.0);
            }
            return Err(error);
        }
    };
    if store_and_commit(tx, caller, key, request_sha256, status, &body).await? {
        return Ok(respond(status, body, false));
    }
    replay_taken(&client, caller, key, request_sha256).await
}

/// Stores the response under `key` and commits `tx`, in one round trip: the insert and a
/// COMMIT are sent together. Returns false when a concurrent duplicate stored the key first.
/// The insert then fails on the primary key, which aborts the transaction, so the COMMIT that
/// follows it rolls the work back.
async fn store_and_commit(
    tx: Transaction<'_>,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: &[u8],
    status: u16,
    body: &RawValue,
) -> Result<bool, Error> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&caller.tenant_id, &key.0, &request_sha256, &(status as i16), &body.get()];
    let (inserted, committed) = {
        let mut insert = std::pin::pin!(tx.execute(&statement, &params));
        // A prepared statement's messages are queued for the connection when its future is
        // first polled, before it waits for a reply. The COMMIT is queued only after that, so
        // Postgres cannot commit the work before it has tried to store the record. An insert
        // that fails before anything is sent (its parameters cannot be encoded) returns here,
        // and dropping `tx` rolls the work back.
        if let Poll::Ready(result) = futures::poll!(insert.as_mut()) {
            let inserted = result?;
            return Err(Error::internal(anyhow::anyhow!(
                "the record insert finished before it was sent ({inserted} rows)"
            )));
        }
        tokio::join!(insert, tx.batch_execute("COMMIT"))
    };
    // The COMMIT has ended the transaction, committed or rolled back, so `tx` must not send the
    // ROLLBACK it sends when dropped unfinished.
    // NOTE: forgetting `tx` also keeps one reference to its connection's statement cache, so
    // that cache outlives a connection that closes (one cache per closed connection).
    std::mem::forget(tx);
    match inserted {
        Ok(_) => {
            committed?;
            Ok(true)
        }
        Err(error) if is_key_taken(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Returns whether the record insert failed on its key, the table's only unique constraint.
fn is_key_taken(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Replays the response that a concurrent duplicate stored under `key`.
async fn replay_taken(
    client: &impl GenericClient,
    caller: &Caller,
    key: &IdempotencyKey,
    request_sha256: &[u8],
) -> Result<HttpResponse, Error> {
    let stored = lookup(client, caller.tenant_id, &key.0).await?;
    let stored =
        stored.ok_or_else(|| Error::internal(anyhow::anyhow!("idempotency record vanished")))?;
    replay(stored, request_sha256, &key.0)
}

const LOOKUP: &str = "SELECT request_sha256, status_code, response FROM idempotency_keys \
    WHERE tenant_id = $1 AND key = $2";

async fn lookup(
    client: &impl GenericClient,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<Stored>, Error> {
    let statement = client.prepare_cached(LOOKUP).await?;
    lookup_prepared(client, &statement, tenant_id, key).await
}

async fn lookup_prepared(
    client: &impl GenericClient,
    statement: &Statement,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<Stored>, Error> {
    let row = client.query_opt(statement, &[&tenant_id, &key]).await?;
    row.map(|row| {
        Ok(Stored {
            request_sha256: row.get(0),
            status: row.get::<_, i16>(1) as u16,
            body: stored_body(key, row.get(2))?,
        })
    })
    .transpose()
}

/// Reads the stored responses of `keys` with one primary key lookup per key. Written as
/// `key = ANY($2)`, the generic plan could read every key of a large tenant instead.
pub(super) async fn lookup_many(
    client: &impl GenericClient,
    tenant_id: Uuid,
    keys: &[&str],
) -> Result<HashMap<String, Stored>, Error> {
    let statement = client
        .prepare_cached(
            "SELECT k.key, i.request_sha256, i.status_code, i.response \
             FROM unnest($2::text[]) AS k (key) \
             CROSS JOIN LATERAL ( \
                 SELECT request_sha256, status_code, response FROM idempotency_keys \
                 WHERE tenant_id = $1 AND key = k.key \
                 LIMIT 1 \
             ) i",
        )
        .await?;
    let rows = client.query(&statement, &[&tenant_id, &keys]).await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let stored = Stored {
                request_sha256: row.get(1),
                status: row.get::<_, i16>(2) as u16,
                body: stored_body(&key, row.get(3))?,
            };
            Ok((key, stored))
        })
        .collect()
}

/// Parses a stored response as JSON text. The service wrote that text, so a failure means that
/// the row was changed outside the service.
fn stored_body(key: &str, text: String) -> Result<Body, Error> {
    RawValue::from_string(text).map_err(|error| {
        Error::internal(anyhow::anyhow!(
            "invalid JSON in the stored response of key {key:?}: {error}"
        ))
    })
}

/// Stores the responses of many writes, each under its tenant, with one statement and returns
/// how many were stored. A key already stored is skipped. Keys are inserted in sorted order, so
/// two batches that share keys wait for each other instead of deadlocking.
pub(super) async fn insert_records(
    client: &impl GenericClient,
    records: &[(Uuid, &BatchWrite, u16, &RawValue)],
) -> Result<u64, Error> {
    let mut records = records.to_vec();
    records.sort_unstable_by(|a, b| (a.0, &a.1.key.0).cmp(&(b.0, &b.1.key.0)));
    let tenants: Vec<Uuid> = records.iter().map(|(tenant_id, ..)| *tenant_id).collect();
    let keys: Vec<&str> = records.iter().map(|(_, write, ..)| write.key.0.as_str()).collect();
    let hashes: Vec<&[u8]> =
        records.iter().map(|(_, write, ..)| write.request_sha256.as_slice()).collect();
    let statuses: Vec<i16> = records.iter().map(|(_, _, status, _)| *status as i16).collect();
    let bodies: Vec<&str> = records.iter().map(|(.., body)| body.get()).collect();
    let statement = client
        .prepare_cached(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             SELECT r.* \
             FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::smallint[], $5::text[]) AS r \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&tenants, &keys, &hashes, &statuses, &bodies];
    Ok(client.execute(&statement, &params).await?)
}

fn replay(stored: Stored, request_sha256: &[u8], key: &str) -> Result<HttpResponse, Error> {
    replay_checked(&stored, request_sha256).map_err(|error| error.value(key.to_string()))?;
    Ok(respond(stored.status, stored.body, true))
}

pub(super) fn problem_body(error: &Error) -> Body {
    body_of(&problem::Problem::from_error(error)).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

pub(super) fn respond(status: u16, body: Body, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type =
        if status.is_success() { "application/json" } else { "application/problem+json" };
    let mut response = HttpResponse::build(status);
    response.content_type(content_type);
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(String::from(Box::<str>::from(body)))
}

/// A write under its own idempotency key: one document of a batch.
#[derive(Debug, Clone)]
pub struct BatchWrite {
    pub key: IdempotencyKey,
    pub request_sha256: Vec<u8>,
    /// Index of the document in the batch, which errors name in their field. It is `None` for
    /// a request sent alone, because its key came in the `Idempotency-Key` header.
    pub position: Option<usize>,
}

/// Result of one write of a batch: the status and body it would have returned alone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchOutcome {
    pub idempotency_key: String,
    pub status: u16,
    #[schema(value_type = Object)]
    pub body: Body,
    /// Whether the response was stored by an earlier request with the same key.
    pub replayed: bool,
}

/// Runs every write of a batch in ONE transaction, each under its own savepoint and its own
/// idempotency key, and commits once. `lock_first` runs before the writes and takes, in key
/// order, the row locks that the writes would otherwise take one by one in document order,
/// so that two batches over the same rows do not deadlock. When it fails, its work is rolled
/// back and each write locks its own rows. A rejected write is rolled back to its savepoint and
/// its problem stored under its key, so it does not undo the others. A write whose key is
/// already stored is replayed. Writes that fail for another reason (a deadlock, say) are
/// rolled back, reported with their 5xx problem and not stored, so a retry runs them again.
/// Fails as a whole only when the transaction itself fails, and then nothing is written.
pub async fn execute_batch<L, F>(
    state: &AppState,
    caller: &Caller,
    writes: &[BatchWrite],
    lock_first: L,
    operation: F,
) -> Result<Vec<BatchOutcome>, Error>
where
    L: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<(), Error>>,
    F: for<'t> Fn(&'t Transaction<'t>, usize) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    let mut client = state.pool.get().await?;
    let mut tx = client.transaction().await?;
    db::use_generic_plans(&tx).await?;
    // Locks taken in a released savepoint stay with the transaction.
    let savepoint = tx.savepoint("batch_locks").await?;
    match lock_first(&savepoint).await {
        Ok(()) => savepoint.commit().await?,
        Err(error) => {
            tracing::warn!(
                error = %error,
                tenant_id = %caller.tenant_id,
                "batch runs without its rows locked in key order"
            );
            savepoint.rollback().await?;
        }
    }
    let mut outcomes = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let outcome = match lookup(&tx, caller.tenant_id, &write.key.0).await? {
            Some(stored) => replayed_outcome(stored, write),
            None => run_in_savepoint(&mut tx, caller, write, |tx| operation(tx, index)).await?,
        };
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn run_in_savepoint<'a, F>(
    tx: &'a mut Transaction<'_>,
    caller: &Caller,
    write: &BatchWrite,
    operation: F,
) -> Result<BatchOutcome, Error>
where
    F: for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<Reply, Error>>,
{
    let savepoint = tx.savepoint("batch_write").await?;
    let reply = match operation(&savepoint).await {
        Ok(reply) => reply,
        Err(error) => {
            savepoint.rollback().await?;
            if !error.is_rejection() {
                tracing::error!(
                    error.code = error.code.code(),
                    error = %error,
                    idempotency_key = write.key.0,
                    "batch write failed"
                );
                return Ok(outcome(write, error.code.status(), problem_body(&error), false));
            }
            let status = error.code.status();
            let body = problem_body(&error);
            insert_record(tx, caller, write, status, &body).await?;
            return Ok(outcome(write, status, body, false));
        }
    };
    if !insert_record(&savepoint, caller, write, reply.status, &reply.body).await? {
        // A concurrent request with the same key committed first, so its response is returned.
        savepoint.rollback().await?;
        let stored = lookup(tx, caller.tenant_id, &write.key.0)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("idempotency record vanished")))?;
        return Ok(replayed_outcome(stored, write));
    }
    savepoint.commit().await?;
    Ok(outcome(write, reply.status, reply.body, false))
}

/// Stores the response of `write`; false when the key was already stored.
async fn insert_record(
    client: &impl GenericClient,
    caller: &Caller,
    write: &BatchWrite,
    status: u16,
    body: &RawValue,
) -> Result<bool, Error> {
    let statement = client
        .prepare_cached(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&caller.tenant_id, &write.key.0, &write.request_sha256, &(status as i16), &body.get()];
    Ok(client.execute(&statement, &params).await? == 1)
}

pub(super) fn replayed_outcome(stored: Stored, write: &BatchWrite) -> BatchOutcome {
    if stored.request_sha256 == write.request_sha256 {
        return outcome(write, stored.status, stored.body, true);
    }
    let error = match write.position {
        Some(position) => Error::new(
            ErrorCode::IdempotencyKeyReused,
            "this idempotency_key was already used with a different document; use a new key",
        )
        .field(format!("documents[{position}].idempotency_key")),
        None => header_key_reused(),
    };
    let error = error.value(write.key.0.as_str());
    outcome(write, error.code.status(), problem_body(&error), false)
}

fn replay_checked(stored: &Stored, request_sha256: &[u8]) -> Result<(), Error> {
    if stored.request_sha256 != request_sha256 {
        return Err(header_key_reused());
    }
    Ok(())
}

fn header_key_reused() -> Error {
    Error::new(
        ErrorCode::IdempotencyKeyReused,
        "this Idempotency-Key was already used with a different request; use a new key",
    )
    .field("Idempotency-Key")
}

pub(super) fn outcome(write: &BatchWrite, status: u16, body: Body, replayed: bool) -> BatchOutcome {
    BatchOutcome { idempotency_key: write.key.0.clone(), status, body, replayed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_keeps_nul_as_an_escape() {
        let body = body_of(&json!({"value": "a\u{0}b", "na\u{0}me": ["\u{0}"]})).unwrap();
        assert_eq!(body.get(), r#"{"na\u0000me":["\u0000"],"value":"a\u0000b"}"#);
        let read: Value = serde_json::from_str(body.get()).unwrap();
        assert_eq!(read["value"], "a\u{0}b");
    }

    #[test]
    fn body_is_the_serialized_text() {
        let body = body_of(&json!({"b": "1.00", "a": [1, 2]})).unwrap();
        assert_eq!(body.get(), r#"{"a":[1,2],"b":"1.00"}"#);
    }
}
