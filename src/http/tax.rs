//! `POST /v1/tax/quotes`: the tax of a prospective sale, determined without posting anything.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::auth::Writer;
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::tax::{Determination, TaxInput};

/// Determines the tax of a sale from both parties' domiciles and returns it. Sales to the
/// United States go to the external tax provider as a quotation.
#[utoipa::path(
    tag = "tax",
    request_body = TaxInput,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The determination", body = Determination),
        (status = 422, description = "Invalid input, named by `field`", body = Problem),
        (status = 503, description = "The tax provider is unavailable", body = Problem),
    )
)]
#[post("/tax/quotes")]
pub async fn create_quote(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let fingerprint = idempotency::fingerprint(&req, &body);
    let engine = state.tax.clone();
    idempotency::execute(&state, &caller, &key, fingerprint, move |_tx| {
        Box::pin(async move {
            let input: TaxInput = typed(&body)?;
            Reply::ok(&engine.determine(&input).await?)
        })
    })
    .await
}
