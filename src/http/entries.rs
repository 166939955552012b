//! `/v1/entries`: posting, reading and reversing journal entries.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Reader, Writer};
use super::idempotency::{self, IdempotencyKey, Reply};
use super::problem::Problem;
use super::{body, AppState};
use crate::error::{Error, ErrorCode};
use crate::ledger::{self, AccountCode, NewEntry, NewLine, PostedEntry, Reversal};
use crate::money::{self, Currency, Money};

/// The body of `POST /v1/entries`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRequest {
    pub effective_date: NaiveDate,
    #[serde(default)]
    pub description: String,
    pub lines: Vec<LineRequest>,
}

/// A line: a signed amount, debit positive and credit negative.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    #[schema(example = "cash_clearing.EUR")]
    pub account: String,
    /// A decimal string with at most the currency's minor-unit decimals.
    #[schema(example = "-12.50")]
    #[serde(deserialize_with = "crate::money::amount_text")]
    pub amount: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub memo: Option<String>,
}

impl EntryRequest {
    /// Converts the request into a ledger entry, naming the JSON path of the first bad field.
    fn into_entry(self, idempotency_key: String) -> Result<NewEntry, Error> {
        let lines = self
            .lines
            .into_iter()
            .enumerate()
            .map(|(index, line)| line.into_line(index))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(NewEntry {
            effective_date: self.effective_date,
            description: self.description,
            idempotency_key: Some(idempotency_key),
            reverses: None,
            lines,
        })
    }
}

impl LineRequest {
    fn into_line(self, index: usize) -> Result<NewLine, Error> {
        let field = |name: &str| format!("lines[{index}].{name}");
        let account =
            AccountCode::parse(&self.account).map_err(|err| err.field(field("account")))?;
        let currency = Currency::parse(&self.currency)
            .map_err(|err| Error::from(err).field(field("currency")))?;
        let amount =
            parse_amount(&self.amount, currency).map_err(|err| err.field(field("amount")))?;
        let amount =
            Money::new(amount, currency).map_err(|err| Error::from(err).field(field("amount")))?;
        Ok(NewLine { account, amount, memo: self.memo })
    }
}

/// Parses an amount string. A well-formed number that does not fit a decimal (more than 28
/// digits) is out of range when its whole part alone is too large, and has too many decimals
/// otherwise.
fn parse_amount(text: &str, currency: Currency) -> Result<rust_decimal::Decimal, Error> {
    money::parse_amount(text).map_err(|err| {
        let trimmed = text.trim();
        let unsigned = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
            return Error::from(err);
        }
        if whole.trim_start_matches('0').len() > MAX_WHOLE_DIGITS {
            return Error::new(ErrorCode::AmountOutOfRange, format!("amount {text} is too large"))
                .value(text);
        }
        Error::new(
            ErrorCode::CurrencyPrecisionExceeded,
            format!(
                "amount {text} has more decimals than {currency} allows ({})",
                currency.minor_units()
            ),
        )
        .value(text)
    })
}

/// Digits of the largest whole part a line amount may have (below 10^15).
const MAX_WHOLE_DIGITS: usize = 15;

/// Posts a balanced journal entry. The `Idempotency-Key` becomes the entry's idempotency key.
#[utoipa::path(
    tag = "entries",
    params(IdempotencyKey),
    request_body = EntryRequest,
    responses(
        (status = 201, description = "The posted entry", body = PostedEntry),
        (status = 409, description = "The Idempotency-Key was used with another request", body = Problem),
        (status = 422, description = "The entry is invalid; nothing was posted", body = Problem),
    )
)]
#[post("/entries")]
pub async fn create_entry(
    state: web::Data<AppState>,
    Writer(caller): Writer,
    key: IdempotencyKey,
    req: HttpRequest,
    json: web::Json<Value>,
) -> HttpResponse {
    let fingerprint = idempotency::fingerprint(&req, &json);
    let idempotency_key = key.0.clone();
    idempotency::execute(&state, &caller, &key, fingerprint, |tx| {
        Box::pin(async move {
            let entry = body::typed::<EntryRequest>(&json)?.into_entry(idempotency_key)?;
            Reply::created(&ledger::post_entry(tx, caller.tenant_id, entry).await?)
        })
    })
    .await
}

/// Reads a journal entry with its lines.
#[utoipa::path(
    tag = "entries",
    params(("id" = Uuid, Path, description = "Entry id")),
    responses(
        (status = 200, description = "The entry", body = PostedEntry),
        (status = 404, description = "No such entry", body = Problem),
    )
)]
#[get("/entries/{id}")]
pub async fn get_entry(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    id: web::Path<String>,
) -> Result<web::Json<PostedEntry>, Error> {
    let id = parse_entry_id(&id)?;
    let client = state.pool.get().await?;
    Ok(web::Json(ledger::get_entry(&client, caller.tenant_id, id).await?))
}

fn parse_entry_id(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| {
        Error::new(ErrorCode::InvalidParameter, format!("entry id '{text}' is not a UUID"))
            .field("id")
            .value(text)
    })
}

/// The body of a reversal; every field is optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// Defaults to the reversed entry's effective date.
    pub effective_date: Option<NaiveDate>,
    /// Defaults to "Reversal of entry `<id>`".
    pub description: Option<String>,
}

/// Reverses an entry: posts its lines with opposite signs. An entry is reversed at most once.
#[utoipa::path(
    tag = "entries",
    params(
        ("id" = Uuid, Path, description = "The entry to reverse"),
        IdempotencyKey,
    ),
    request_body(content = Option<ReversalRequest>, description = "Optional"),
    responses(
        (status = 201, description = "The reversal entry", body = PostedEntry),
        (status = 404, description = "No such entry", body = Problem),
        (status = 409, description = "The entry was already reversed", body = Problem),
        (status = 422, description = "The reversal is invalid; nothing was posted", body = Problem),
    )
)]
#[post("/entries/{id}/reversal")]
pub async fn reverse_entry(
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
    let idempotency_key = key.0.clone();
    idempotency::execute(&state, &caller, &key, fingerprint, |tx| {
        Box::pin(async move {
            let id = parse_entry_id(&id)?;
            let request = body::typed::<ReversalRequest>(&json)?;
            let reversal = Reversal {
                effective_date: request.effective_date,
                description: request.description,
                idempotency_key: Some(idempotency_key),
            };
            Reply::created(&ledger::reverse_entry(tx, caller.tenant_id, id, reversal).await?)
        })
    })
    .await
}
