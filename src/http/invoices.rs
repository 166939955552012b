//! `/v1/invoices`: issue and read customer invoices.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::idempotency::{self, IdempotencyKey};
use super::problem::Problem;
use super::{grouping, AppState};
use crate::billing::invoice::{self, Invoice, NewInvoice};
use crate::error::Error;

/// Issues an invoice and posts its journal entry. Invoices that the tenant posts at the same
/// time may share a transaction (see [`grouping`]). Each gets the response it would get alone.
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
    grouping::post_invoice(&state, caller, key, fingerprint, body).await
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
