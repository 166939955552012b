//! `/v1/invoices`: issue and read customer invoices.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::invoice::{self, Invoice, NewInvoice};
use crate::error::Error;
use crate::tax::outbox;

/// Issues an invoice and posts its journal entry.
#[utoipa::path(
    post, path = "/invoices", tag = "invoices", request_body = NewInvoice,
    params(IdempotencyKey),
    responses((status = 201, body = Invoice), (status = 422, body = Problem))
)]
#[post("/invoices")]
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
    let engine = state.tax.clone();
    // The first statements of an invoice read its parties and accounts and take a key-share
    // lock on its seller.
    let write = idempotency::execute_reading_early(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new: NewInvoice = typed(&body)?;
            Reply::created(&invoice::create(tx, &engine, tenant_id, new).await?)
        })
    });
    // The provider records the document only after its transaction has committed.
    let (response, queued) = outbox::collect(write).await;
    state.tax.deliver(&state.pool, &queued).await;
    response
}

/// Reads an invoice with its lines, taxes, commission, status and residual.
#[utoipa::path(
    get, path = "/invoices/{id}", tag = "invoices", params(("id" = Uuid, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = Problem))
)]
#[get("/invoices/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<Invoice>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    let found = invoice::find(&client, caller.tenant_id, id).await?;
    found.map(web::Json).ok_or_else(|| Error::not_found("invoice", id))
}
