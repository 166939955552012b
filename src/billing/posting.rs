//! The journal entry a billing document posts, and the ledger accounts it posts to.

use chrono::NaiveDate;
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::accounts;
use crate::error::Error;
use crate::ledger::{self, AccountCode, NewEntry, NewLine};
use crate::money::{Currency, Money};

/// A line of a draft entry; debit positive, credit negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    pub account: String,
    pub amount: Decimal,
    pub memo: String,
}

/// A journal entry being built by a document, in one currency.
#[derive(Debug, Clone)]
pub struct Draft {
    pub currency: Currency,
    pub lines: Vec<DraftLine>,
}

impl Draft {
    pub fn new(currency: Currency) -> Draft {
        Draft { currency, lines: Vec::new() }
    }

    /// Adds a debit; a zero amount adds nothing.
    pub fn debit(&mut self, account: &str, amount: Decimal, memo: impl Into<String>) {
        self.push(account, amount, memo.into());
    }

    /// Adds a credit; a zero amount adds nothing.
    pub fn credit(&mut self, account: &str, amount: Decimal, memo: impl Into<String>) {
        self.push(account, -amount, memo.into());
    }

    fn push(&mut self, account: &str, amount: Decimal, memo: String) {
        if amount.is_zero() {
            return;
        }
        self.lines.push(DraftLine { account: account.to_string(), amount, memo });
    }

    /// The sum of the lines; zero for a balanced entry.
    pub fn imbalance(&self) -> Decimal {
        self.lines.iter().map(|line| line.amount).sum()
    }
}

/// Renames the fields of a ledger error to the document request's. `effective_date` becomes
/// the field that dates the entry (`issued_at`, `received_on`, `as_of`). A posting line's
/// `lines[i].amount` becomes the field with the document's amounts (`amount`, `lines`), or no
/// field when the request carries no amount.
pub fn request_fields(
    date_field: &'static str,
    amount_field: Option<&'static str>,
) -> impl Fn(Error) -> Error {
    move |mut error| {
        match error.field.as_deref() {
            Some("effective_date") => error.field = Some(date_field.to_string()),
            Some(name) if name.starts_with("lines") => {
                error.field = amount_field.map(str::to_string)
            }
            _ => {}
        }
        error
    }
}

/// Posts `draft` as one journal entry in the caller's transaction and returns its id.
pub async fn post(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    effective_date: NaiveDate,
    description: String,
    idempotency_key: String,
    draft: Draft,
) -> Result<Uuid, Error> {
    let entry = new_entry(effective_date, description, idempotency_key, draft)?;
    let posted = ledger::post_entry(tx, tenant_id, entry).await;
    Ok(posted.map_err(accounts::retry_if_account_missing(&[tenant_id]))?.id)
}

/// Posts `draft` as the journal entry `entry_id`, as [`post`] does. Fails when the
/// idempotency key already names another entry, because rows the caller sent alongside
/// name `entry_id`.
pub async fn post_as(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    entry_id: Uuid,
    effective_date: NaiveDate,
    description: String,
    idempotency_key: String,
    draft: Draft,
) -> Result<(), Error> {
    let entry = new_entry(effective_date, description, idempotency_key, draft)?;
    let posted = ledger::post_entry_as(tx, tenant_id, entry_id, entry).await;
    let posted = posted.map_err(accounts::retry_if_account_missing(&[tenant_id]))?;
    if posted.id != entry_id {
        let detail = format!("entry {} was posted before under this key", posted.id);
        return Err(Error::internal(anyhow::anyhow!(detail)));
    }
    Ok(())
}

/// Builds the entry of `draft`, checking its account codes and amounts.
pub fn new_entry(
    effective_date: NaiveDate,
    description: String,
    idempotency_key: String,
    draft: Draft,
) -> Result<NewEntry, Error> {
    let mut lines = Vec::with_capacity(draft.lines.len());
    for line in draft.lines {
        lines.push(NewLine {
            account: AccountCode::parse(&line.account)?,
            amount: Money::new(line.amount, draft.currency)?,
            memo: Some(line.memo),
        });
    }
    Ok(NewEntry {
        effective_date,
        description,
        idempotency_key: Some(idempotency_key),
        reverses: None,
        lines,
    })
}
