//! The journal entry a billing document posts, and the ledger accounts it posts to.

use chrono::NaiveDate;
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;
use uuid::Uuid;

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

/// Renames the ledger's `effective_date` in an error to the request field that dates the
/// document's entry (`issued_at`, `received_on`, `as_of`). The entry's `lines[i]` are the
/// document's postings, not its request's lines, so an error on one of them names no field.
pub fn dated_by(field: &'static str) -> impl Fn(Error) -> Error {
    move |mut error| {
        match error.field.as_deref() {
            Some("effective_date") => error.field = Some(field.to_string()),
            Some(name) if name.starts_with("lines") => error.field = None,
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
    let mut lines = Vec::with_capacity(draft.lines.len());
    for line in draft.lines {
        lines.push(NewLine {
            account: AccountCode::parse(&line.account)?,
            amount: Money::new(line.amount, draft.currency)?,
            memo: Some(line.memo),
        });
    }
    let entry = NewEntry {
        effective_date,
        description,
        idempotency_key: Some(idempotency_key),
        reverses: None,
        lines,
    };
    Ok(ledger::post_entry(tx, tenant_id, entry).await?.id)
}
