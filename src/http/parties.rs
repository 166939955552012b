//! `/v1/parties`: customers, partners with their agreements, and the platform.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::body::typed;
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::AppState;
use crate::billing::agreements::{self, NewAgreementVersion};
use crate::billing::parties::{self, AgreementVersion, NewParty, Party};
use crate::billing::reports::{self, CustomerEvent, PartnerStatement};
use crate::error::{Error, ErrorCode};

/// Creates a party; a partner needs its agreement.
#[utoipa::path(
    post, path = "/parties", tag = "parties", request_body = NewParty,
    params(IdempotencyKey),
    responses((status = 201, body = Party), (status = 422, body = Problem))
)]
#[post("/parties")]
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
            let new: NewParty = typed(&body)?;
            Reply::created(&parties::create(tx, tenant_id, new).await?)
        })
    })
    .await
}

/// Reads a party.
#[utoipa::path(
    get, path = "/parties/{id}", tag = "parties", params(("id" = Uuid, Path)),
    responses((status = 200, body = Party), (status = 404, body = Problem))
)]
#[get("/parties/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<Party>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    let party = parties::find(&client, caller.tenant_id, id).await?;
    party.map(web::Json).ok_or_else(|| Error::not_found("party", id))
}

/// Changes a partner's agreement from `effective_from` on: the body is the new agreement with
/// an `effective_from` date.
#[utoipa::path(
    post, path = "/parties/{id}/agreements", tag = "parties",
    params(("id" = Uuid, Path), IdempotencyKey),
    request_body = NewAgreementVersion,
    responses(
        (status = 201, body = AgreementVersion),
        (status = 404, body = Problem),
        (status = 422, body = Problem)
    )
)]
#[post("/parties/{id}/agreements")]
pub async fn change_agreement(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let fingerprint = idempotency::fingerprint(&req, &body);
    let tenant_id = caller.tenant_id;
    let partner_id = id.into_inner();
    idempotency::execute(&state, &caller, &key, fingerprint, move |tx| {
        Box::pin(async move {
            let new = agreement_version(&body)?;
            Reply::created(&agreements::change(tx, tenant_id, partner_id, new).await?)
        })
    })
    .await
}

/// Lists every version of a partner's agreement, oldest first.
#[utoipa::path(
    get, path = "/parties/{id}/agreements", tag = "parties", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<AgreementVersion>), (status = 404, body = Problem))
)]
#[get("/parties/{id}/agreements")]
pub async fn list_agreements(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<AgreementVersion>>, Error> {
    let client = state.pool.get().await?;
    Ok(web::Json(agreements::list(&client, caller.tenant_id, id.into_inner()).await?))
}

/// Parses the body of an agreement change: an agreement and its `effective_from` date.
fn agreement_version(body: &Value) -> Result<NewAgreementVersion, Error> {
    let mut agreement = body.clone();
    let effective_from =
        agreement.as_object_mut().and_then(|fields| fields.remove("effective_from"));
    let Some(effective_from) = effective_from else {
        return Err(Error::new(
            ErrorCode::InvalidField,
            "effective_from is required: the first issue date (YYYY-MM-DD) the new terms price",
        )
        .field("effective_from"));
    };
    let date = serde_json::from_value(effective_from.clone()).map_err(|_| {
        Error::new(ErrorCode::InvalidField, "effective_from must be a date such as 2026-12-01")
            .field("effective_from")
            .value(effective_from)
    })?;
    Ok(NewAgreementVersion { effective_from: date, agreement: typed(&agreement)? })
}

/// Reads a partner's statement: sales, refunds, commission, tax and payouts per month.
#[utoipa::path(
    get, path = "/partners/{id}/statement", tag = "reports", params(("id" = Uuid, Path)),
    responses((status = 200, body = PartnerStatement), (status = 404, body = Problem))
)]
#[get("/partners/{id}/statement")]
pub async fn partner_statement(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<PartnerStatement>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    if parties::find(&client, caller.tenant_id, id).await?.is_none() {
        return Err(Error::not_found("partner", id));
    }
    Ok(web::Json(reports::partner_statement(&client, caller.tenant_id, id).await?))
}

/// Reads a customer's statement: invoices, payments and credit notes with the balance.
#[utoipa::path(
    get, path = "/customers/{id}/statement", tag = "reports", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<CustomerEvent>), (status = 404, body = Problem))
)]
#[get("/customers/{id}/statement")]
pub async fn customer_statement(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<CustomerEvent>>, Error> {
    let client = state.pool.get().await?;
    let id = id.into_inner();
    if parties::find(&client, caller.tenant_id, id).await?.is_none() {
        return Err(Error::not_found("customer", id));
    }
    Ok(web::Json(reports::customer_statement(&client, caller.tenant_id, id).await?))
}
