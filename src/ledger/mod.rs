//! Double-entry core: accounts, journal entries, posting, balances and fiscal periods.
//!
//! Every function takes the caller's client or transaction, so a document and its entry
//! commit together. Postgres checks the same invariants again (see `migrations/`), so the
//! checks here exist to reject bad input early with an error that names the field.

pub mod accounts;
pub mod balances;
mod db_errors;
pub mod periods;
pub mod posting;

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorCode};

pub use accounts::{
    ensure_account, find_account, find_account_created_before, get_account, seed_default_chart,
    Account, NewAccount,
};
pub use balances::{balance, Balance};
pub use periods::{close_period, get_period, Period, PeriodId};
pub use posting::{
    get_entry, insert_entries, post_entry, post_entry_as, reverse_entry, NewEntry, NewLine,
    PostedEntry, PostedLine, Reversal,
};

/// Rejects a text with a NUL character, which a Postgres `text` column cannot hold.
pub(crate) fn check_no_nul(field: &str, text: &str) -> Result<(), Error> {
    if text.contains('\0') {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("{field} must not contain the NUL character (U+0000)"),
        )
        .field(field)
        .value(text));
    }
    Ok(())
}

/// Rejects a date outside the years 1 to 9999: Postgres cannot store dates before 4713 BC,
/// and a period id (`YYYY-MM`) names only four-digit years, so a later entry could never be
/// closed. `code` is the error for the caller's field (a body field or a query parameter).
pub(crate) fn check_date(field: &str, date: NaiveDate, code: ErrorCode) -> Result<(), Error> {
    if !(1..=9999).contains(&date.year()) {
        return Err(Error::new(
            code,
            format!("{field} {date} is out of range: use a date in the years 0001 to 9999"),
        )
        .field(field)
        .value(date.to_string()));
    }
    Ok(())
}

/// Maximum length of an account code, in characters.
pub const MAX_ACCOUNT_CODE_LEN: usize = 100;

/// An account code: 1 to 100 ASCII letters, digits and `_ . : -`, starting with a letter or
/// digit (`cash_clearing.EUR`, `partner_payable:P-100.USD`). Codes are case-sensitive and safe
/// in a URL path segment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, example = "cash_clearing.EUR")]
pub struct AccountCode(String);

impl AccountCode {
    /// Parses `text`, rejecting codes outside the grammar with `invalid_account_code`.
    pub fn parse(text: &str) -> Result<AccountCode, Error> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
        if !first_ok || !rest_ok || text.len() > MAX_ACCOUNT_CODE_LEN {
            return Err(Error::new(
                ErrorCode::InvalidAccountCode,
                format!(
                    "account code '{text}' is not valid: use 1 to {MAX_ACCOUNT_CODE_LEN} ASCII \
                     letters, digits and _ . : -, starting with a letter or digit"
                ),
            )
            .value(text));
        }
        Ok(AccountCode(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountCode({})", self.0)
    }
}

impl FromStr for AccountCode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountCode::parse(s)
    }
}

impl Serialize for AccountCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccountCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AccountCode::parse(&text).map_err(|err| serde::de::Error::custom(err.detail))
    }
}

/// The five account kinds of double-entry bookkeeping. Assets and expenses normally carry a
/// debit (positive) balance; liabilities, equity and revenue a credit (negative) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountKind {
    /// Returns the value stored in `accounts.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Asset => "asset",
            AccountKind::Liability => "liability",
            AccountKind::Equity => "equity",
            AccountKind::Revenue => "revenue",
            AccountKind::Expense => "expense",
        }
    }

    fn from_db(text: &str) -> Result<AccountKind, Error> {
        match text {
            "asset" => Ok(AccountKind::Asset),
            "liability" => Ok(AccountKind::Liability),
            "equity" => Ok(AccountKind::Equity),
            "revenue" => Ok(AccountKind::Revenue),
            "expense" => Ok(AccountKind::Expense),
            other => Err(Error::internal(anyhow::anyhow!("unknown account kind '{other}'"))),
        }
    }
}

/// Parses a currency code read from the database, which contains only known codes.
fn currency_from_db(code: &str) -> Result<crate::money::Currency, Error> {
    crate::money::Currency::parse(code)
        .map_err(|err| Error::internal(anyhow::anyhow!("stored currency: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_code_accepts_grammar() {
        for code in ["cash", "cash_clearing.EUR", "partner_payable:P-100.USD", "4000"] {
            assert_eq!(AccountCode::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn account_code_rejects_others() {
        let too_long = "a".repeat(MAX_ACCOUNT_CODE_LEN + 1);
        for code in ["", "_cash", "cash clearing", "cash/eur", "kasse-ä", too_long.as_str()] {
            let err = AccountCode::parse(code).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidAccountCode, "{code}");
            assert_eq!(err.value, Some(serde_json::json!(code)));
        }
    }
}
