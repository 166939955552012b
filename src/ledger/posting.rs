//! Posting journal entries: validation, the insert, reversals and reading entries back.
//!
//! `post_entry` rejects bad input with ordered guard clauses, each with its own error code:
//! line count, texts, amount range, balance per currency (no database needed), then accounts,
//! account currencies, the period and the reversed entry. One pipelined round trip reads
//! those facts and any entry already posted under the idempotency key, which is returned
//! instead. The insert is a second round trip, and Postgres repeats every check in its
//! triggers.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::db_errors::journal_error;
use super::periods::{self, PeriodId};
use super::{currency_from_db, AccountCode};
use crate::error::{Error, ErrorCode};
use crate::money::{Currency, Money};

/// Maximum number of lines in one entry.
pub const MAX_LINES: usize = 1000;

/// Maximum length of a description or memo, in characters.
pub const MAX_TEXT_LEN: usize = 1000;

/// Maximum length of an idempotency key, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// Line amounts must be smaller than this in absolute value (the `journal_lines.amount`
/// check): large enough for any real document, small enough that sums stay exact.
pub const AMOUNT_LIMIT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// An entry to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub effective_date: NaiveDate,
    pub description: String,
    /// Posting the same key again returns the entry posted first (or `idempotency_key_reused`
    /// when the entries differ). Unique per tenant.
    pub idempotency_key: Option<String>,
    /// The entry this one cancels; an entry is reversed at most once.
    pub reverses: Option<Uuid>,
    pub lines: Vec<NewLine>,
}

/// A line to post: a signed amount, debit positive and credit negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub account: AccountCode,
    pub amount: Money,
    pub memo: Option<String>,
}

/// A posted journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostedEntry {
    pub id: Uuid,
    pub effective_date: NaiveDate,
    pub description: String,
    pub idempotency_key: Option<String>,
    pub reverses: Option<Uuid>,
    /// The entry that reversed this one, if any.
    pub reversed_by: Option<Uuid>,
    pub posted_at: DateTime<Utc>,
    pub lines: Vec<PostedLine>,
    /// Whether `post_entry` found the entry already posted under its idempotency key.
    #[serde(skip)]
    pub replayed: bool,
}

/// A posted line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostedLine {
    pub line_no: i16,
    pub account: AccountCode,
    /// Debit positive, credit negative.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "100.00")]
    pub amount: Decimal,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub memo: Option<String>,
}

/// Posts `entry` in the caller's transaction and returns it as stored. With an idempotency
/// key the tenant already used, returns the entry posted first if it has the same date,
/// description, reversal and lines, and `idempotency_key_reused` otherwise.
///
/// On any error the caller must roll the transaction or savepoint back. The insert is sent
/// with the reads that check it, so a rejected entry may have aborted the transaction or,
/// after a concurrent change, been inserted.
#[tracing::instrument(level = "debug", skip_all, fields(tenant.id = %tenant_id))]
pub async fn post_entry(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    entry: NewEntry,
) -> Result<PostedEntry, Error> {
    post_entry_as(tx, tenant_id, Uuid::now_v7(), entry).await
}

/// Posts `entry` under the id `id`, as [`post_entry`] does, so the caller can send rows that
/// name the entry in the same round trip. The entry returned has another id when its
/// idempotency key was already used.
pub async fn post_entry_as(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
    entry: NewEntry,
) -> Result<PostedEntry, Error> {
    validate(&entry)?;
    prepare(tx).await?;
    // The reads and the insert go in one round trip. Postgres runs the reads first, and their
    // facts decide the result. The triggers repeat every check, so a rejected insert either
    // fails or is rolled back by the caller.
    let (facts, inserted) =
        tokio::join!(LedgerFacts::read(tx, tenant_id, &entry), insert(tx, tenant_id, id, &entry));
    let facts = facts?;
    // A repeated key returns the entry posted first even if, say, its period closed since.
    if let Some(existing) = facts.existing {
        return replay(tx, tenant_id, existing, entry).await;
    }
    facts.check(&entry)?;
    match inserted? {
        Some(posted_at) => Ok(posted(id, posted_at, entry)),
        None => {
            // A concurrent transaction committed an entry with this key while ours waited.
            let key = entry.idempotency_key.as_deref();
            let existing = find_by_key(tx, tenant_id, key).await?.ok_or_else(|| {
                Error::internal(anyhow::anyhow!("entry with idempotency key {key:?} vanished"))
            })?;
            replay(tx, tenant_id, existing, entry).await
        }
    }
}

/// Reads the accounts of a list of codes, each by its primary key, so the plan stays an index
/// lookup per code whatever the tenant's share of the table.
const SELECT_ACCOUNTS: &str = "SELECT a.code, a.currency FROM unnest($2::text[]) AS c (code) \
    CROSS JOIN LATERAL (SELECT code, currency FROM accounts \
        WHERE tenant_id = $1 AND code = c.code LIMIT 1) a";

const SELECT_REVERSED: &str = "SELECT \
    EXISTS (SELECT 1 FROM journal_entries WHERE tenant_id = $1 AND id = $2), \
    (SELECT id FROM journal_entries WHERE tenant_id = $1 AND reverses = $2)";

const SELECT_BY_KEY: &str =
    "SELECT id FROM journal_entries WHERE tenant_id = $1 AND idempotency_key = $2";

const INSERT_ENTRY: &str = include_str!("sql/insert_entry.sql");

/// Prepares every statement of a posting on the connection, once. A statement is sent only
/// when it is prepared, so a pipeline whose statements are all prepared runs them in the
/// order they were issued: the reads of the facts before the insert.
async fn prepare(tx: &Transaction<'_>) -> Result<(), Error> {
    tokio::try_join!(
        tx.prepare_cached(SELECT_ACCOUNTS),
        tx.prepare_cached(periods::SELECT_CLOSED_AT),
        tx.prepare_cached(SELECT_REVERSED),
        tx.prepare_cached(SELECT_BY_KEY),
        tx.prepare_cached(INSERT_ENTRY),
    )?;
    Ok(())
}

/// Checks what needs no database: line count, texts, amount range and balance per currency,
/// in that order, returning the first failure.
pub fn validate(entry: &NewEntry) -> Result<(), Error> {
    check_shape(entry)?;
    check_balanced(&entry.lines)
}

fn check_shape(entry: &NewEntry) -> Result<(), Error> {
    let count = entry.lines.len();
    if count < 2 {
        return Err(Error::new(
            ErrorCode::EntryTooFewLines,
            format!("an entry needs at least two lines, this one has {count}"),
        )
        .field("lines")
        .value(count));
    }
    if count > MAX_LINES {
        return Err(Error::new(
            ErrorCode::EntryTooManyLines,
            format!("an entry may have at most {MAX_LINES} lines, this one has {count}"),
        )
        .field("lines")
        .value(count));
    }
    super::check_date("effective_date", entry.effective_date, ErrorCode::InvalidField)?;
    check_text("description", &entry.description, 0, MAX_TEXT_LEN)?;
    if let Some(key) = &entry.idempotency_key {
        check_text("idempotency_key", key, 1, MAX_KEY_LEN)?;
    }
    for (index, line) in entry.lines.iter().enumerate() {
        if let Some(memo) = &line.memo {
            check_text(&format!("lines[{index}].memo"), memo, 0, MAX_TEXT_LEN)?;
        }
        if line.amount.amount().abs() >= AMOUNT_LIMIT {
            return Err(Error::new(
                ErrorCode::AmountOutOfRange,
                format!(
                    "amount {} must be smaller than {AMOUNT_LIMIT} in absolute value",
                    line.amount
                ),
            )
            .field(format!("lines[{index}].amount"))
            .value(line.amount.amount().to_string()));
        }
    }
    Ok(())
}

fn check_text(field: &str, text: &str, min: usize, max: usize) -> Result<(), Error> {
    super::check_no_nul(field, text)?;
    let length = text.chars().count();
    if length < min || length > max {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("{field} must have {min} to {max} characters, not {length}"),
        )
        .field(field)
        .value(text));
    }
    Ok(())
}

/// Checks that the lines sum to zero in every currency.
fn check_balanced(lines: &[NewLine]) -> Result<(), Error> {
    let mut sums: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for line in lines {
        *sums.entry(line.amount.currency()).or_default() += line.amount.amount();
    }
    match sums.into_iter().find(|(_, sum)| !sum.is_zero()) {
        None => Ok(()),
        Some((currency, difference)) => Err(Error::new(
            ErrorCode::EntryNotBalanced,
            format!(
                "the {currency} lines sum to {difference}, not 0: debits (positive) and \
                 credits (negative) must balance in each currency"
            ),
        )
        .field("lines")
        .value(json!({ "currency": currency.code(), "difference": difference.to_string() }))),
    }
}

/// Database facts about an entry: its accounts, its period, the reversed entry and any entry
/// already posted under its idempotency key.
struct LedgerFacts {
    /// Currency of each referenced account that exists.
    account_currencies: HashMap<String, String>,
    period_closed: bool,
    /// For a reversal: whether the reversed entry exists and who reversed it already.
    reversed: Option<(bool, Option<Uuid>)>,
    /// The entry already posted under the entry's idempotency key.
    existing: Option<Uuid>,
}

impl LedgerFacts {
    /// Reads the facts with up to four queries sent together (one round trip).
    async fn read(
        client: &impl GenericClient,
        tenant_id: Uuid,
        entry: &NewEntry,
    ) -> Result<LedgerFacts, Error> {
        let mut codes: Vec<&str> = entry.lines.iter().map(|line| line.account.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let period = PeriodId::containing(entry.effective_date);
        let accounts = async {
            let statement = client.prepare_cached(SELECT_ACCOUNTS).await?;
            client.query(&statement, &[&tenant_id, &codes]).await
        };
        let closed = periods::closed_at(client, tenant_id, period);
        let reversed = read_reversed(client, tenant_id, entry.reverses);
        let existing = find_by_key(client, tenant_id, entry.idempotency_key.as_deref());
        let (accounts, closed, reversed, existing) = tokio::try_join!(
            async { accounts.await.map_err(Error::from) },
            closed,
            reversed,
            existing
        )?;
        let account_currencies =
            accounts.iter().map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))).collect();
        Ok(LedgerFacts { account_currencies, period_closed: closed.is_some(), reversed, existing })
    }

    fn check(&self, entry: &NewEntry) -> Result<(), Error> {
        for (index, line) in entry.lines.iter().enumerate() {
            let Some(currency) = self.account_currencies.get(line.account.as_str()) else {
                return Err(Error::new(
                    ErrorCode::AccountNotFound,
                    format!("account '{}' does not exist; create it first", line.account),
                )
                .field(format!("lines[{index}].account"))
                .value(line.account.as_str()));
            };
            if currency != line.amount.currency().code() {
                return Err(Error::new(
                    ErrorCode::AccountCurrencyMismatch,
                    format!(
                        "account '{}' holds {currency}, so it cannot take a {} line",
                        line.account,
                        line.amount.currency()
                    ),
                )
                .field(format!("lines[{index}].currency"))
                .value(line.amount.currency().code()));
            }
        }
        if self.period_closed {
            return Err(period_closed(entry.effective_date));
        }
        self.check_reversed(entry)
    }

    fn check_reversed(&self, entry: &NewEntry) -> Result<(), Error> {
        let (Some(reversed_id), Some((exists, reversed_by))) = (entry.reverses, self.reversed)
        else {
            return Ok(());
        };
        if !exists {
            return Err(Error::new(
                ErrorCode::ReversedEntryNotFound,
                format!("entry {reversed_id} does not exist, so it cannot be reversed"),
            )
            .field("reverses")
            .value(reversed_id.to_string()));
        }
        if let Some(reversal) = reversed_by {
            return Err(already_reversed(reversed_id, reversal));
        }
        Ok(())
    }
}

/// Returns the error of an entry dated in a closed period.
pub fn period_closed(effective_date: NaiveDate) -> Error {
    let period = PeriodId::containing(effective_date);
    Error::new(
        ErrorCode::PeriodClosed,
        format!(
            "effective date {effective_date} is in the closed period {period}; date the entry \
             in an open period"
        ),
    )
    .field("effective_date")
    .value(effective_date.to_string())
}

fn already_reversed(reversed_id: Uuid, reversal: Uuid) -> Error {
    Error::new(
        ErrorCode::EntryAlreadyReversed,
        format!("entry {reversed_id} was already reversed by entry {reversal}"),
    )
    .field("reverses")
    .value(reversed_id.to_string())
}

async fn read_reversed(
    client: &impl GenericClient,
    tenant_id: Uuid,
    reverses: Option<Uuid>,
) -> Result<Option<(bool, Option<Uuid>)>, Error> {
    let Some(reversed_id) = reverses else {
        return Ok(None);
    };
    let statement = client.prepare_cached(SELECT_REVERSED).await?;
    let row = client.query_one(&statement, &[&tenant_id, &reversed_id]).await?;
    Ok(Some((row.get(0), row.get(1))))
}

/// Inserts the entry and runs the commit-time checks right away, so a violation surfaces
/// here with its error code and not as a failed commit. Returns `None` when the tenant
/// already has an entry with this idempotency key.
async fn insert(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
    entry: &NewEntry,
) -> Result<Option<DateTime<Utc>>, Error> {
    let accounts: Vec<&str> = entry.lines.iter().map(|line| line.account.as_str()).collect();
    let currencies: Vec<String> =
        entry.lines.iter().map(|line| line.amount.currency().code().to_string()).collect();
    let amounts: Vec<Decimal> = entry.lines.iter().map(|line| line.amount.amount()).collect();
    let memos: Vec<Option<&str>> = entry.lines.iter().map(|line| line.memo.as_deref()).collect();
    let params: [&(dyn ToSql + Sync); 10] = [
        &tenant_id,
        &id,
        &entry.effective_date,
        &entry.description,
        &entry.idempotency_key,
        &entry.reverses,
        &accounts,
        &currencies,
        &amounts,
        &memos,
    ];
    // Prepared first, so that the insert reaches Postgres before the check.
    let statement = tx.prepare_cached(INSERT_ENTRY).await.map_err(journal_error)?;
    let insert = tx.query_opt(&statement, &params);
    let check = tx.batch_execute(CHECK_ENTRIES_NOW);
    let row = insert_then_check(insert, check).await?;
    Ok(row.map(|row| row.get(0)))
}

const INSERT_ENTRIES: &str = include_str!("sql/insert_entries.sql");

/// Prepares the statement of [`insert_entries`] ahead of it, so that a caller pipelining other
/// statements with the insert has it reach Postgres first.
pub async fn prepare_insert_entries(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.prepare_cached(INSERT_ENTRIES).await.map(drop)
}

/// Inserts `entries`, each for the tenant and under the id paired with it, with one
/// statement, and runs the commit-time checks right away. The caller has checked every entry
/// with [`validate`], its accounts and its period; Postgres checks them again and fails the
/// whole insert on any fault, so the caller then rolls back. Reversals are not taken.
pub async fn insert_entries(
    tx: &Transaction<'_>,
    entries: &[(Uuid, Uuid, &NewEntry)],
) -> Result<(), Error> {
    let line_count = entries.iter().map(|(_, _, entry)| entry.lines.len()).sum();
    let mut tenants = Vec::with_capacity(entries.len());
    let mut ids = Vec::with_capacity(entries.len());
    let mut dates = Vec::with_capacity(entries.len());
    let mut descriptions = Vec::with_capacity(entries.len());
    let mut keys = Vec::with_capacity(entries.len());
    let mut line_tenants = Vec::with_capacity(line_count);
    let mut line_entries = Vec::with_capacity(line_count);
    let mut line_numbers: Vec<i16> = Vec::with_capacity(line_count);
    let mut accounts = Vec::with_capacity(line_count);
    let mut currencies = Vec::with_capacity(line_count);
    let mut amounts = Vec::with_capacity(line_count);
    let mut memos = Vec::with_capacity(line_count);
    for (tenant_id, id, entry) in entries {
        if entry.reverses.is_some() {
            return Err(Error::internal(anyhow::anyhow!("a reversal cannot be bulk-inserted")));
        }
        tenants.push(*tenant_id);
        ids.push(*id);
        dates.push(entry.effective_date);
        descriptions.push(entry.description.as_str());
        keys.push(entry.idempotency_key.as_deref());
        for (line, line_no) in entry.lines.iter().zip(1..) {
            line_tenants.push(*tenant_id);
            line_entries.push(*id);
            line_numbers.push(line_no);
            accounts.push(line.account.as_str());
            currencies.push(line.amount.currency().code().to_string());
            amounts.push(line.amount.amount());
            memos.push(line.memo.as_deref());
        }
    }

    let params: [&(dyn ToSql + Sync); 12] = [
        &tenants,
        &ids,
        &dates,
        &descriptions,
        &keys,
        &line_entries,
        &line_numbers,
        &accounts,
        &currencies,
        &amounts,
        &memos,
        &line_tenants,
    ];
    // Prepared first, so that the insert reaches Postgres before the check.
    let statement = tx.prepare_cached(INSERT_ENTRIES).await.map_err(journal_error)?;
    let insert = tx.query_one(&statement, &params);
    let check = tx.batch_execute(CHECK_ENTRIES_NOW);
    let row = insert_then_check(insert, check).await?;
    let inserted: i64 = row.get(0);
    if inserted != entries.len() as i64 {
        let detail = format!("{inserted} of {} entries were inserted", entries.len());
        return Err(Error::internal(anyhow::anyhow!(detail)));
    }
    Ok(())
}

/// Runs the commit-time check of the entries inserted so far, then defers it again, so that each
/// insert's entries get one check here. Left immediate, the check would run twice per insert:
/// once when the entries are queued and again when their lines queue them.
const CHECK_ENTRIES_NOW: &str = "SET CONSTRAINTS journal_entries_balanced IMMEDIATE; \
                                 SET CONSTRAINTS journal_entries_balanced DEFERRED";

/// Sends a journal insert and the balance check together and returns the insert's result. Both
/// finish before an error is returned. The insert's error wins, because when the insert fails
/// the check only reports that the transaction is aborted.
async fn insert_then_check<T>(
    insert: impl Future<Output = Result<T, tokio_postgres::Error>>,
    check: impl Future<Output = Result<(), tokio_postgres::Error>>,
) -> Result<T, Error> {
    let (inserted, checked) = tokio::join!(insert, check);
    let inserted = inserted.map_err(journal_error)?;
    checked.map_err(journal_error)?;
    Ok(inserted)
}

fn posted(id: Uuid, posted_at: DateTime<Utc>, entry: NewEntry) -> PostedEntry {
    let lines = entry
        .lines
        .into_iter()
        .zip(1..)
        .map(|(line, line_no)| PostedLine {
            line_no,
            account: line.account,
            amount: line.amount.amount(),
            currency: line.amount.currency(),
            memo: line.memo,
        })
        .collect();
    PostedEntry {
        id,
        effective_date: entry.effective_date,
        description: entry.description,
        idempotency_key: entry.idempotency_key,
        reverses: entry.reverses,
        reversed_by: None,
        posted_at,
        lines,
        replayed: false,
    }
}

async fn find_by_key(
    client: &impl GenericClient,
    tenant_id: Uuid,
    key: Option<&str>,
) -> Result<Option<Uuid>, Error> {
    let Some(key) = key else {
        return Ok(None);
    };
    let statement = client.prepare_cached(SELECT_BY_KEY).await?;
    let row = client.query_opt(&statement, &[&tenant_id, &key]).await?;
    Ok(row.map(|row| row.get(0)))
}

/// Returns the entry `existing`, posted under `entry`'s idempotency key, if it is the same
/// entry, and `idempotency_key_reused` otherwise.
async fn replay(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    existing: Uuid,
    entry: NewEntry,
) -> Result<PostedEntry, Error> {
    let key = entry.idempotency_key.clone().unwrap_or_default();
    let mut stored = get_entry(tx, tenant_id, existing).await?;
    let same = stored.effective_date == entry.effective_date
        && stored.description == entry.description
        && stored.reverses == entry.reverses
        && stored.lines.len() == entry.lines.len()
        && stored.lines.iter().zip(&entry.lines).all(|(posted, line)| {
            posted.account == line.account
                && posted.amount == line.amount.amount()
                && posted.currency == line.amount.currency()
                && posted.memo == line.memo
        });
    if !same {
        return Err(Error::new(
            ErrorCode::IdempotencyKeyReused,
            format!("idempotency key '{key}' was already used for entry {} with other content; use a new key", stored.id),
        )
        .field("idempotency_key")
        .value(key));
    }
    stored.replayed = true;
    Ok(stored)
}

/// Reads a posted entry with its lines; `not_found` when the tenant has no such entry.
pub async fn get_entry(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<PostedEntry, Error> {
    let head = async {
        let statement = client.prepare_cached(include_str!("sql/select_entry.sql")).await?;
        client.query_opt(&statement, &[&tenant_id, &id]).await
    };
    let lines = async {
        let statement = client
            .prepare_cached(
                "SELECT line_no, account_code, currency, amount, memo FROM journal_lines \
                 WHERE tenant_id = $1 AND entry_id = $2 ORDER BY line_no",
            )
            .await?;
        client.query(&statement, &[&tenant_id, &id]).await
    };
    let (head, lines) = tokio::try_join!(head, lines)?;
    let head = head.ok_or_else(|| Error::not_found("entry", id))?;
    let lines = lines
        .iter()
        .map(|row| {
            let currency = currency_from_db(row.get(2))?;
            let mut amount: Decimal = row.get(3);
            amount.rescale(currency.minor_units());
            Ok(PostedLine {
                line_no: row.get(0),
                account: AccountCode(row.get(1)),
                amount,
                currency,
                memo: row.get(4),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(PostedEntry {
        id: head.get(0),
        effective_date: head.get(1),
        description: head.get(2),
        idempotency_key: head.get(3),
        reverses: head.get(4),
        posted_at: head.get(5),
        reversed_by: head.get(6),
        lines,
        replayed: false,
    })
}

/// How to reverse an entry; every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reversal {
    /// Defaults to the reversed entry's effective date.
    pub effective_date: Option<NaiveDate>,
    /// Defaults to "Reversal of entry `<id>`".
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Posts the reversal of entry `id`: the same lines with opposite signs, pointing back at it.
/// `not_found` when the entry does not exist, `entry_already_reversed` when it was reversed.
#[tracing::instrument(level = "debug", skip_all, fields(tenant.id = %tenant_id, entry.id = %id))]
pub async fn reverse_entry(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    id: Uuid,
    reversal: Reversal,
) -> Result<PostedEntry, Error> {
    // Concurrent reversals of one entry wait here for each other, so the later one reads the
    // committed reversal and gets `entry_already_reversed` instead of racing it to the unique
    // index.
    let lock_key = format!("reverse:{tenant_id}:{id}");
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&lock_key]).await?;
    let original = get_entry(tx, tenant_id, id).await?;
    if let Some(reversal_id) = original.reversed_by {
        return Err(already_reversed(id, reversal_id));
    }
    let lines = original
        .lines
        .iter()
        .map(|line| {
            Ok(NewLine {
                account: line.account.clone(),
                amount: Money::new(-line.amount, line.currency)?,
                memo: line.memo.clone(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let entry = NewEntry {
        effective_date: reversal.effective_date.unwrap_or(original.effective_date),
        description: reversal.description.unwrap_or_else(|| format!("Reversal of entry {id}")),
        idempotency_key: reversal.idempotency_key,
        reverses: Some(id),
        lines,
    };
    post_entry(tx, tenant_id, entry).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(account: &str, amount: Decimal, currency: &str) -> NewLine {
        let currency = Currency::parse(currency).unwrap();
        NewLine {
            account: AccountCode::parse(account).unwrap(),
            amount: Money::new(amount, currency).unwrap(),
            memo: None,
        }
    }

    #[test]
    fn amount_limit_is_ten_to_the_fifteenth() {
        assert_eq!(AMOUNT_LIMIT, dec!(1_000_000_000_000_000));
    }

    #[test]
    fn balanced_per_currency() {
        let lines = [
            line("a", dec!(10.00), "EUR"),
            line("b", dec!(-10.00), "EUR"),
            line("c", dec!(5), "JPY"),
            line("d", dec!(-5), "JPY"),
        ];
        assert!(check_balanced(&lines).is_ok());
    }

    #[test]
    fn unbalanced_names_currency_and_difference() {
        let lines = [
            line("a", dec!(10.00), "EUR"),
            line("b", dec!(-10.00), "EUR"),
            line("c", dec!(5), "JPY"),
            line("d", dec!(-4), "JPY"),
        ];
        let err = check_balanced(&lines).unwrap_err();
        assert_eq!(err.code, ErrorCode::EntryNotBalanced);
        assert_eq!(err.value, Some(json!({ "currency": "JPY", "difference": "1" })));
        assert!(err.detail.contains("JPY lines sum to 1"), "{}", err.detail);
    }

    #[test]
    fn shape_rejects_single_line() {
        let entry = NewEntry {
            effective_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            description: String::new(),
            idempotency_key: None,
            reverses: None,
            lines: vec![line("a", dec!(0), "EUR")],
        };
        assert_eq!(check_shape(&entry).unwrap_err().code, ErrorCode::EntryTooFewLines);
    }
}
