//! Account balances, read from the stored slot rows: current, or as of an effective date.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::{currency_from_db, AccountCode};
use crate::error::Error;
use crate::money::Currency;

/// An account's balance: debits minus credits, so credit balances are negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: AccountCode,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "-120.00")]
    pub balance: Decimal,
    /// The effective date the balance is taken at; `None` for all lines posted so far.
    pub as_of: Option<NaiveDate>,
}

/// Returns the balance of an account, of every line or of lines effective on or before
/// `as_of`. Reads the account's slot rows (at most 16) and, for `as_of`, the daily changes
/// after that date; never the lines themselves.
// NOTE: an as-of read sums one row per slot and day of activity after `as_of`, so its cost
// grows with how far back the date lies; monthly snapshot rows would bound it.
pub async fn balance(
    client: &impl GenericClient,
    tenant_id: Uuid,
    code: &AccountCode,
    as_of: Option<NaiveDate>,
) -> Result<Balance, Error> {
    let statement = client.prepare_cached(include_str!("sql/balance.sql")).await?;
    let row = client
        .query_opt(&statement, &[&tenant_id, &code.as_str(), &as_of])
        .await?
        .ok_or_else(|| Error::not_found("account", code))?;
    let currency = currency_from_db(row.get(0))?;
    let mut amount: Decimal = row.get(1);
    amount.rescale(currency.minor_units());
    Ok(Balance { account: code.clone(), currency, balance: amount, as_of })
}
