//! `/v1/batches`: many documents in one request and one transaction, each with its own
//! idempotency key and its own result.

use std::collections::HashMap;
use std::ops::Range;

use actix_web::{post, web, HttpResponse};
use deadpool_postgres::Transaction;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use super::auth::Writer;
use super::body::typed;
use super::idempotency::{self, BatchOutcome, BatchWrite, IdempotencyKey, Reply, Stored};
use super::problem::Problem;
use super::AppState;
use crate::billing::invoice::{self, NewInvoice};
use crate::billing::invoice_batch::{self, InvoiceBatch};
use crate::billing::{credit_note, payment};
use crate::db::{self, tenancy::Caller};
use crate::error::{Error, ErrorCode};
use crate::tax::outbox;

/// Maximum number of documents in one batch.
pub const MAX_BATCH_DOCUMENTS: usize = 1000;

/// Kind of a batched document, named after the route that takes it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Invoice,
    Payment,
    CreditNote,
}

impl DocumentKind {
    /// Returns the route that takes this document alone. Fingerprints use it, so a batched
    /// document and the same document sent alone replay each other.
    fn path(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "/v1/invoices",
            DocumentKind::Payment => "/v1/payments",
            DocumentKind::CreditNote => "/v1/credit-notes",
        }
    }
}

/// A document of a batch.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDocument {
    #[serde(rename = "type")]
    pub kind: DocumentKind,
    /// The key this document would carry in its `Idempotency-Key` header alone.
    pub idempotency_key: String,
    /// The request body the document's own route takes.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// A request to post up to 1,000 documents.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    pub documents: Vec<BatchDocument>,
}

/// The result of every document, in request order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub results: Vec<BatchOutcome>,
}

/// Posts up to 1,000 invoices, payments and credit notes in one transaction. Each document
/// gets the status and body its own route would return. A rejected document does not undo
/// the others, and a document whose key was used before is replayed.
#[utoipa::path(
    post, path = "/batches", tag = "batches", request_body = NewBatch,
    responses((status = 200, body = BatchResult), (status = 422, body = Problem))
)]
#[post("/batches")]
pub async fn create(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    body: web::Json<Value>,
) -> Result<HttpResponse, Error> {
    let batch: NewBatch = typed(&body.into_inner())?;
    let writes = check(&batch)?;
    let tenant_id = caller.tenant_id;
    let documents = &batch.documents;
    if documents.iter().all(|document| document.kind == DocumentKind::Invoice) {
        let (together, queued) =
            outbox::collect(post_invoices_together(&state, &caller, documents, &writes)).await;
        if let Some(results) = together? {
            state.metrics.count_batch("together");
            state.tax.deliver(&state.pool, &queued).await;
            return Ok(HttpResponse::Ok().json(BatchResult { results }));
        }
    }
    state.metrics.count_batch("one_by_one");
    let invoices: Vec<NewInvoice> = documents
        .iter()
        .filter(|document| document.kind == DocumentKind::Invoice)
        .filter_map(|document| typed(&document.body).ok())
        .collect();
    // NOTE: only the invoices' rows are locked first. Payments and credit notes lock theirs
    // when they run, in document order, so two such batches over the same rows can deadlock.
    let lock_first = lock_invoice_rows(tenant_id, invoices);
    let batch = idempotency::execute_batch(&state, &caller, &writes, lock_first, |tx, index| {
        // The future may outlive this borrow of the batch, so it owns its document.
        let document = documents[index].clone();
        let engine = state.tax.clone();
        Box::pin(async move {
            match document.kind {
                DocumentKind::Invoice => {
                    let new = typed(&document.body)?;
                    Reply::created(&invoice::create(tx, &engine, tenant_id, new).await?)
                }
                DocumentKind::Payment => Reply::created(
                    &payment::create(tx, tenant_id, typed(&document.body)?, chrono::Utc::now())
                        .await?,
                ),
                DocumentKind::CreditNote => Reply::created(
                    &credit_note::create(tx, tenant_id, typed(&document.body)?).await?,
                ),
            }
        })
    });
    let (results, queued) = outbox::collect(batch).await;
    let results = results?;
    state.tax.deliver(&state.pool, &queued).await;
    Ok(HttpResponse::Ok().json(BatchResult { results }))
}

/// Returns the step that locks the rows `invoices` will change (number series, partner revenue,
/// customer credit), in key order, as reading them for a batch of invoices does.
fn lock_invoice_rows(
    tenant_id: Uuid,
    invoices: Vec<NewInvoice>,
) -> impl for<'t> FnOnce(&'t Transaction<'t>) -> LocalBoxFuture<'t, Result<(), Error>> {
    move |tx| {
        Box::pin(async move {
            let invoices: Vec<&NewInvoice> = invoices.iter().collect();
            InvoiceBatch::new(tenant_id).load(tx, &invoices).await
        })
    }
}

/// Posts a batch of invoices with few statements: every invoice is priced against what the
/// batch read and locked once, and they are written together every [`DOCUMENTS_PER_FLUSH`]
/// documents and at the end (see [`InvoiceBatch`]). A rejected invoice is only left out,
/// since pricing writes nothing.
/// Returns `None`, with nothing written, when the batch must run one document at a time
/// instead. That happens on any database error (a deadlock, say, or a failed joint write),
/// when an invoice fails for another reason than a rejection or an unavailable tax provider,
/// and when a concurrent request stored one of the keys first. Fails only when no connection
/// or transaction can be had.
pub(super) async fn post_invoices_together(
    state: &AppState,
    caller: &Caller,
    documents: &[BatchDocument],
    writes: &[BatchWrite],
) -> Result<Option<Vec<BatchOutcome>>, Error> {
    let mut client = state.pool.get().await?;
    let tenant = [(*caller, 0..documents.len())];
    post_tenants_together(state, &mut client, documents, writes, &tenant).await
}

/// Posts the invoices of several tenants as [`post_invoices_together`] posts one tenant's, in
/// one transaction on `client`. Each of `tenants` names a caller and its documents' range of
/// `documents` and `writes`. Each tenant's invoices are priced against that tenant's own reads
/// and locks, one tenant after another, and then every tenant's invoices are written with one
/// statement per table. The tenants must come in the order of their ids, so that two such
/// transactions lock the rows of their common tenants in one order. Returns the results in
/// the order of `documents`.
pub(super) async fn post_tenants_together(
    state: &AppState,
    client: &mut deadpool_postgres::Object,
    documents: &[BatchDocument],
    writes: &[BatchWrite],
    tenants: &[(Caller, Range<usize>)],
) -> Result<Option<Vec<BatchOutcome>>, Error> {
    let tx = client.transaction().await?;
    db::use_generic_plans(&tx).await?;
    // Dropping a failed transaction rolls it back too, so a failed rollback changes nothing.
    let outcomes = match price_and_write(state, &tx, documents, writes, tenants).await {
        Ok(Some(outcomes)) => outcomes,
        Ok(None) => {
            let _ = tx.rollback().await;
            return Ok(None);
        }
        Err(error) => {
            let tenant_ids = tenant_ids(tenants);
            tracing::warn!(
                error = %error,
                tenant_ids = ?tenant_ids,
                "invoice batch falls back to one document at a time"
            );
            let _ = tx.rollback().await;
            return Ok(None);
        }
    };
    if let Err(error) = tx.commit().await {
        let tenant_ids = tenant_ids(tenants);
        tracing::warn!(
            error = %error,
            tenant_ids = ?tenant_ids,
            "invoice batch falls back to one document at a time"
        );
        return Ok(None);
    }
    Ok(Some(outcomes))
}

/// Returns the tenant ids of a joint write's `tenants`, for its logs.
pub(super) fn tenant_ids(tenants: &[(Caller, Range<usize>)]) -> Vec<Uuid> {
    tenants.iter().map(|(caller, _)| caller.tenant_id).collect()
}

/// Prices the invoices of every tenant and writes them with their idempotency records in
/// `tx`, and returns the result of each document, or `None` when the batch must run one
/// document at a time (see [`post_invoices_together`]).
async fn price_and_write(
    state: &AppState,
    tx: &Transaction<'_>,
    documents: &[BatchDocument],
    writes: &[BatchWrite],
    tenants: &[(Caller, Range<usize>)],
) -> Result<Option<Vec<BatchOutcome>>, Error> {
    let mut batches = Vec::with_capacity(tenants.len());
    let mut priced = Vec::with_capacity(tenants.len());
    // NOTE: a tenant whose invoice waits for a row lock or for the tax provider while it is
    // priced holds back every later tenant of the transaction.
    for (caller, range) in tenants {
        let (documents, writes) = (&documents[range.clone()], &writes[range.clone()]);
        let (batch, tenant) = price(state, caller, tx, documents, writes).await?;
        batches.push(batch);
        priced.push(tenant);
    }
    invoice_batch::flush_all(tx, &mut batches).await?;
    // The records go in last, in one statement, because `insert_records` sorts their keys.
    // Two batches that share keys then take them in one order and do not deadlock.
    let mut records: Vec<(Uuid, &BatchWrite, u16, &RawValue)> = Vec::new();
    for ((caller, range), tenant) in tenants.iter().zip(&priced) {
        for &index in &tenant.written {
            let outcome = &tenant.outcomes[index];
            let write = &writes[range.start + index];
            records.push((caller.tenant_id, write, outcome.status, &*outcome.body));
        }
    }
    let inserted = idempotency::insert_records(tx, &records).await?;
    if inserted != records.len() as u64 {
        // A concurrent request with one of these keys committed first.
        return Ok(None);
    }
    Ok(Some(priced.into_iter().flat_map(|tenant| tenant.outcomes).collect()))
}

/// One tenant's results of a joint write, before its invoices are written.
struct Priced {
    outcomes: Vec<BatchOutcome>,
    /// Documents whose responses are stored under their keys: the first of each key that the
    /// batch did not replay.
    written: Vec<usize>,
}

/// Prices one tenant's invoices and returns the batch that holds them, unwritten (except
/// every [`DOCUMENTS_PER_FLUSH`] documents), with the result of each document.
async fn price(
    state: &AppState,
    caller: &Caller,
    tx: &Transaction<'_>,
    documents: &[BatchDocument],
    writes: &[BatchWrite],
) -> Result<(InvoiceBatch, Priced), Error> {
    let keys: Vec<&str> = writes.iter().map(|write| write.key.0.as_str()).collect();
    let stored = idempotency::lookup_many(tx, caller.tenant_id, &keys).await?;
    let mut parsed: Vec<Option<Result<NewInvoice, Error>>> = documents
        .iter()
        .zip(writes)
        .map(|(document, write)| {
            (!stored.contains_key(&write.key.0)).then(|| typed(&document.body))
        })
        .collect();
    let mut batch = InvoiceBatch::new(caller.tenant_id);
    let valid: Vec<&NewInvoice> = parsed.iter().flatten().flatten().collect();
    batch.load(tx, &valid).await?;

    let mut outcomes: Vec<BatchOutcome> = Vec::with_capacity(documents.len());
    // The first document of each key this batch writes, for a key that comes again later.
    let mut written: HashMap<&str, usize> = HashMap::new();
    let mut since_flush = 0;
    for (index, write) in writes.iter().enumerate() {
        let key = write.key.0.as_str();
        let earlier = match (stored.get(key), written.get(key)) {
            (Some(earlier), _) => Some((&earlier.request_sha256, earlier.status, &earlier.body)),
            (None, Some(&first)) => {
                Some((&writes[first].request_sha256, outcomes[first].status, &outcomes[first].body))
            }
            (None, None) => None,
        };
        if let Some((request_sha256, status, body)) = earlier {
            let earlier =
                Stored { request_sha256: request_sha256.clone(), status, body: body.clone() };
            outcomes.push(idempotency::replayed_outcome(earlier, write));
            continue;
        }
        let result = match parsed[index].take() {
            Some(Ok(new)) => invoice::issue(&mut batch, tx, &state.tax, new).await,
            Some(Err(error)) => Err(error),
            None => Err(Error::internal(anyhow::anyhow!("batch document {index} not parsed"))),
        };
        let (status, body) = match result {
            Ok(invoice) => {
                let reply = Reply::created(&invoice)?;
                (reply.status, reply.body)
            }
            Err(error) if error.is_rejection() => {
                (error.code.status(), idempotency::problem_body(&error))
            }
            Err(error) if error.code == ErrorCode::TaxProviderUnavailable => {
                // The provider is only asked while pricing, which writes nothing, so the other
                // invoices go on. This one gets its 503 and no record, so a retry prices it
                // again, as it would be alone.
                tracing::error!(
                    error = %error,
                    tenant_id = %caller.tenant_id,
                    idempotency_key = key,
                    "batch invoice failed"
                );
                let body = idempotency::problem_body(&error);
                outcomes.push(idempotency::outcome(write, error.code.status(), body, false));
                continue;
            }
            Err(error) => return Err(error),
        };
        written.insert(key, index);
        outcomes.push(idempotency::outcome(write, status, body, false));
        since_flush += 1;
        if since_flush == DOCUMENTS_PER_FLUSH {
            batch.flush(tx).await?;
            since_flush = 0;
        }
    }
    let written = written.into_values().collect();
    Ok((batch, Priced { outcomes, written }))
}

/// Documents a batch prices between two writes. A batch of 1,000 invoices is written in
/// parts, in one transaction, so the service keeps the pending rows of at most this many
/// invoices in memory. Parts of 100 already share each statement among enough invoices that
/// larger parts save little.
const DOCUMENTS_PER_FLUSH: usize = 100;

/// Checks the batch envelope (count and keys) and returns each document's key and fingerprint.
fn check(batch: &NewBatch) -> Result<Vec<BatchWrite>, Error> {
    let count = batch.documents.len();
    if count == 0 || count > MAX_BATCH_DOCUMENTS {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("a batch carries 1 to {MAX_BATCH_DOCUMENTS} documents, not {count}"),
        )
        .field("documents")
        .value(count));
    }
    let mut writes = Vec::with_capacity(count);
    for (index, document) in batch.documents.iter().enumerate() {
        let key = &document.idempotency_key;
        if !idempotency::is_valid_key(key) {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!(
                    "an idempotency key is 1 to {} visible ASCII characters, as in the \
                     Idempotency-Key header",
                    idempotency::MAX_KEY_LEN
                ),
            )
            .field(format!("documents[{index}].idempotency_key"))
            .value(key.as_str()));
        }
        let request_sha256 =
            idempotency::fingerprint_of("POST", document.kind.path(), &document.body);
        writes.push(BatchWrite {
            key: IdempotencyKey(key.clone()),
            request_sha256,
            position: Some(index),
        });
    }
    Ok(writes)
}
