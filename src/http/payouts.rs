//! `/v1/payout-runs`: pay partners what cleared funds owe them.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::auth::Writer;
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::payout_run::{self, NewPayoutRun, PayoutRun};

/// Runs payouts as of a date for every partner of the tenant.
#[utoipa::path(
    post, path = "/payout-runs", tag = "payouts", request_body = NewPayoutRun,
    params(IdempotencyKey),
    responses((status = 201, body = PayoutRun), (status = 422, body = Problem))
)]
#[post("/payout-runs")]
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
    let today = chrono::Utc::now().date_naive();
    idempotency::execute(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new: NewPayoutRun = typed(&body)?;
            Reply::created(&payout_run::run(tx, tenant_id, new, today).await?)
        })
    })
    .await
}
