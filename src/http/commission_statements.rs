//! `/v1/commission-statements`: the platform's monthly commission invoice to a partner.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::commission_statement::{self, CommissionStatement, NewCommissionStatement};
use crate::error::Error;

/// Issues a partner's commission statement of one month.
#[utoipa::path(
    post, path = "/commission-statements", tag = "commission statements",
    request_body = NewCommissionStatement, params(IdempotencyKey),
    responses(
        (status = 201, body = CommissionStatement),
        (status = 409, body = Problem),
        (status = 422, body = Problem)
    )
)]
#[post("/commission-statements")]
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
    idempotency::execute(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new: NewCommissionStatement = typed(&body)?;
            Reply::created(&commission_statement::create(tx, tenant_id, new).await?)
        })
    })
    .await
}

/// Reads a commission statement.
#[utoipa::path(
    get, path = "/commission-statements/{id}", tag = "commission statements",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CommissionStatement), (status = 404, body = Problem))
)]
#[get("/commission-statements/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<CommissionStatement>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    let found = commission_statement::find(&client, caller.tenant_id, id).await?;
    found.map(web::Json).ok_or_else(|| Error::not_found("commission statement", id))
}
