//! `/v1/credit-notes`: credit invoices in full or in part.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::credit_note::{self, CreditNote, NewCreditNote};
use crate::error::Error;
use crate::tax::outbox;

/// Issues a credit note against an invoice and posts its journal entry.
#[utoipa::path(
    post, path = "/credit-notes", tag = "credit notes", request_body = NewCreditNote,
    params(IdempotencyKey),
    responses((status = 201, body = CreditNote), (status = 422, body = Problem))
)]
#[post("/credit-notes")]
pub async fn create(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let fingerprint = idempotency::fingerprint(&req, &body);
    let tenant_id = caller.tenant_id;
    let write = idempotency::execute(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new: NewCreditNote = typed(&body)?;
            Reply::created(&credit_note::create(tx, tenant_id, new).await?)
        })
    });
    // The provider records the document only after its transaction has committed.
    let (response, queued) = outbox::collect(write).await;
    state.tax.deliver(&state.pool, &queued).await;
    response
}

/// Reads a credit note.
#[utoipa::path(
    get, path = "/credit-notes/{id}", tag = "credit notes", params(("id" = Uuid, Path)),
    responses((status = 200, body = CreditNote), (status = 404, body = Problem))
)]
#[get("/credit-notes/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<CreditNote>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    let found = credit_note::find(&client, caller.tenant_id, id).await?;
    found.map(web::Json).ok_or_else(|| Error::not_found("credit note", id))
}
