//! `/v1/accounts`: the chart of accounts and account balances.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Reader, Writer};
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::{body, AppState};
use crate::error::{Error, ErrorCode};
use crate::ledger::{self, Account, AccountCode, AccountKind, Balance, NewAccount};
use crate::money::Currency;

/// The body of `POST /v1/accounts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    /// 1 to 100 ASCII letters, digits and `_ . : -`, starting with a letter or digit.
    #[schema(example = "partner_payable:P-100.EUR")]
    pub code: String,
    pub name: String,
    pub kind: AccountKind,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The customer or partner the account belongs to.
    pub party: Option<String>,
}

impl AccountRequest {
    fn into_new_account(self) -> Result<NewAccount, Error> {
        Ok(NewAccount {
            code: AccountCode::parse(&self.code).map_err(|err| err.field("code"))?,
            name: self.name,
            kind: self.kind,
            currency: Currency::parse(&self.currency)
                .map_err(|err| Error::from(err).field("currency"))?,
            party: self.party,
        })
    }
}

/// Creates an account, or returns the existing one with the same code, currency and kind.
#[utoipa::path(
    tag = "accounts",
    params(IdempotencyKey),
    request_body = AccountRequest,
    responses(
        (status = 201, description = "The account", body = Account),
        (status = 409, description = "The code exists with another currency, kind or party", body = Problem),
        (status = 422, description = "A field is invalid", body = Problem),
    )
)]
#[post("/accounts")]
pub async fn create_account(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    json: web::Json<Value>,
) -> HttpResponse {
    let fingerprint = idempotency::fingerprint(&req, &json);
    idempotency::execute(&state, &caller, &key, fingerprint, |tx| {
        Box::pin(async move {
            let account = body::typed::<AccountRequest>(&json)?.into_new_account()?;
            let stored = ledger::ensure_account(tx, caller.tenant_id, &account).await?;
            Reply::created(&stored)
        })
    })
    .await
}

/// Reads an account of the caller's tenant.
#[utoipa::path(
    tag = "accounts",
    params(("code" = String, Path, description = "Account code")),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 404, description = "No such account", body = Problem),
    )
)]
#[get("/accounts/{code}")]
pub async fn get_account(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    code: web::Path<String>,
) -> Result<web::Json<Account>, Error> {
    let code = AccountCode::parse(&code).map_err(|err| err.field("code"))?;
    let client = state.pool.get().await?;
    Ok(web::Json(ledger::get_account(&client, caller.tenant_id, &code).await?))
}

/// Query of the balance route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// Count only lines effective on or before this date (YYYY-MM-DD).
    #[param(value_type = Option<NaiveDate>)]
    pub as_of: Option<String>,
}

impl BalanceQuery {
    /// Parses `as_of` here rather than in serde, so a bad date is named with its value.
    fn as_of(&self) -> Result<Option<NaiveDate>, Error> {
        let Some(text) = &self.as_of else {
            return Ok(None);
        };
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map(Some).map_err(|err| {
            Error::new(
                ErrorCode::InvalidParameter,
                format!("as_of '{text}' is not a date as YYYY-MM-DD: {err}"),
            )
            .field("as_of")
            .value(text.as_str())
        })
    }
}

/// Reads an account's balance: debits minus credits, of every line or as of a date.
#[utoipa::path(
    tag = "accounts",
    params(("code" = String, Path, description = "Account code"), BalanceQuery),
    responses(
        (status = 200, description = "The balance", body = Balance),
        (status = 400, description = "as_of is not a date as YYYY-MM-DD", body = Problem),
        (status = 404, description = "No such account", body = Problem),
    )
)]
#[get("/accounts/{code}/balance")]
pub async fn get_balance(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    code: web::Path<String>,
    query: web::Query<BalanceQuery>,
) -> Result<web::Json<Balance>, Error> {
    let code = AccountCode::parse(&code).map_err(|err| err.field("code"))?;
    let as_of = query.as_of()?;
    let client = state.pool.get().await?;
    let balance = ledger::balance(&client, caller.tenant_id, &code, as_of).await?;
    Ok(web::Json(balance))
}
