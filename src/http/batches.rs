//! `/v1/batches`: many documents in one request and one transaction, each with its own
//! idempotency key and its own result.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Writer;
use super::body::typed;
use super::idempotency::{self, BatchOutcome, BatchWrite, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::{credit_note, invoice, payment};
use crate::error::{Error, ErrorCode};
use crate::tax::outbox;

/// Maximum number of documents in one batch.
pub const MAX_BATCH_DOCUMENTS: usize = 1000;

/// Maximum length of a document's idempotency key, in characters, as for a single write.
const MAX_KEY_LEN: usize = 255;

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
    let batch = idempotency::execute_batch(&state, &caller, &writes, |tx, index| {
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
    state.tax.deliver(&queued).await;
    Ok(HttpResponse::Ok().json(BatchResult { results }))
}

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
        if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!("an idempotency key has 1 to {MAX_KEY_LEN} characters"),
            )
            .field(format!("documents[{index}].idempotency_key"))
            .value(key.as_str()));
        }
        let request_sha256 =
            idempotency::fingerprint_of("POST", document.kind.path(), &document.body);
        writes.push(BatchWrite { key: IdempotencyKey(key.clone()), request_sha256 });
    }
    Ok(writes)
}
