//! `/v1/payments`: record customer payments and clear open items.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::payment::{self, NewPayment, Payment};
use crate::error::Error;

/// Records a payment, clears open items and posts its journal entry.
#[utoipa::path(
    post, path = "/payments", tag = "payments", request_body = NewPayment,
    params(IdempotencyKey),
    responses((status = 201, body = Payment), (status = 422, body = Problem))
)]
#[post("/payments")]
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
    let now = chrono::Utc::now();
    idempotency::execute(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new: NewPayment = typed(&body)?;
            Reply::created(&payment::create(tx, tenant_id, new, now).await?)
        })
    })
    .await
}

/// Reads a payment with its allocations.
#[utoipa::path(
    get, path = "/payments/{id}", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Payment), (status = 404, body = Problem))
)]
#[get("/payments/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<Payment>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    let found = payment::find(&client, caller.tenant_id, id).await?;
    found.map(web::Json).ok_or_else(|| Error::not_found("payment", id))
}
