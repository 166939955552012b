//! `/v1/periods`: fiscal periods (calendar months, `YYYY-MM`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::auth::{Reader, Writer};
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::{body, AppState};
use crate::error::Error;
use crate::ledger::{self, Period, PeriodId};

/// The body of a close request: empty, or an empty object.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {}

/// Closes a period: entries dated in it are rejected from now on. Closing a closed period
/// returns it unchanged.
#[utoipa::path(
    tag = "periods",
    params(
        ("id" = String, Path, description = "The month, as YYYY-MM"),
        IdempotencyKey,
    ),
    request_body(content = Option<CloseRequest>, description = "Empty"),
    responses(
        (status = 200, description = "The closed period", body = Period),
        (status = 400, description = "The period is not a month as YYYY-MM", body = Problem),
    )
)]
#[post("/periods/{id}/close")]
pub async fn close_period(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Bytes,
) -> HttpResponse {
    let json = match body::optional_json(&payload) {
        Ok(json) => json,
        Err(error) => return super::problem::response(&error),
    };
    let fingerprint = idempotency::fingerprint(&req, &json);
    idempotency::execute(&state, &caller, &key, fingerprint, |tx| {
        Box::pin(async move {
            body::typed::<CloseRequest>(&json)?;
            let id = PeriodId::parse(&id)?;
            Reply::ok(&ledger::close_period(tx, caller.tenant_id, id).await?)
        })
    })
    .await
}

/// Reads a period and whether it is open.
#[utoipa::path(
    tag = "periods",
    params(("id" = String, Path, description = "The month, as YYYY-MM")),
    responses(
        (status = 200, description = "The period", body = Period),
        (status = 400, description = "The period is not a month as YYYY-MM", body = Problem),
    )
)]
#[get("/periods/{id}")]
pub async fn get_period(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<String>,
) -> Result<web::Json<Period>, Error> {
    let id = PeriodId::parse(&id)?;
    let client = state.pool.get().await?;
    Ok(web::Json(ledger::get_period(&client, caller.tenant_id, id).await?))
}
