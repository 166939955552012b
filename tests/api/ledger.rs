//! The ledger's Rust API: accounts, posting guards, reversals, balances and periods.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use subledger::error::{Error, ErrorCode};
use subledger::ledger::accounts::ChartAccount;
use subledger::ledger::{self, AccountCode, AccountKind, NewAccount, NewEntry, NewLine};
use subledger::money::{Currency, Money};
use uuid::Uuid;

use crate::helpers::TestApp;

pub fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

pub fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

pub fn code(text: &str) -> AccountCode {
    AccountCode::parse(text).unwrap()
}

pub fn line(account: &str, amount: Decimal, currency: &str) -> NewLine {
    let currency = Currency::parse(currency).unwrap();
    NewLine { account: code(account), amount: Money::new(amount, currency).unwrap(), memo: None }
}

/// Builds a two-line EUR entry that debits `debit` and credits `credit`.
pub fn transfer(effective: &str, debit: &str, credit: &str, amount: Decimal) -> NewEntry {
    NewEntry {
        effective_date: date(effective),
        description: format!("{debit} from {credit}"),
        idempotency_key: None,
        reverses: None,
        lines: vec![line(debit, amount, "EUR"), line(credit, -amount, "EUR")],
    }
}

/// Posts `entry` in its own transaction and commits it.
pub async fn post(
    app: &TestApp,
    tenant_id: Uuid,
    entry: NewEntry,
) -> Result<ledger::PostedEntry, Error> {
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    let posted = ledger::post_entry(&tx, tenant_id, entry).await?;
    tx.commit().await.expect("commit");
    Ok(posted)
}

pub async fn balance_of(
    app: &TestApp,
    tenant_id: Uuid,
    account: &str,
    as_of: Option<&str>,
) -> Decimal {
    let client = app.sql().await;
    let as_of = as_of.map(date);
    ledger::balance(&client, tenant_id, &code(account), as_of).await.expect("balance").balance
}

const CASH: &str = "cash_clearing.EUR";
const REVENUE: &str = "commission_revenue.EUR";

#[tokio::test]
async fn default_chart_is_seeded() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    for chart_account in ChartAccount::ALL {
        for currency in ["EUR", "USD"] {
            let currency = Currency::parse(currency).unwrap();
            let account =
                ledger::get_account(&client, app.tenant_id, &chart_account.code(currency))
                    .await
                    .expect("seeded account");
            assert_eq!(account.currency, currency);
            assert_eq!(account.kind, chart_account.kind());
        }
    }
}

#[tokio::test]
async fn ensure_account_is_idempotent() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    let new = NewAccount {
        code: code("partner_payable:P1.EUR"),
        name: "Partner P1".into(),
        kind: AccountKind::Liability,
        currency: eur(),
        party: Some("P1".into()),
    };
    let first = ledger::ensure_account(&client, app.tenant_id, &new).await.unwrap();
    let renamed = NewAccount { name: "Other name".into(), ..new.clone() };
    let second = ledger::ensure_account(&client, app.tenant_id, &renamed).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(second.name, "Partner P1");
}

#[tokio::test]
async fn ensure_account_rejects_other_currency() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    let usd = NewAccount {
        code: code(CASH),
        name: "Cash".into(),
        kind: AccountKind::Asset,
        currency: Currency::parse("USD").unwrap(),
        party: None,
    };
    let err = ledger::ensure_account(&client, app.tenant_id, &usd).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AccountConflict);
    let kind = NewAccount { currency: eur(), kind: AccountKind::Liability, ..usd };
    let err = ledger::ensure_account(&client, app.tenant_id, &kind).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AccountConflict);
}

#[tokio::test]
async fn post_entry_updates_balances() {
    let app = TestApp::spawn().await;
    let posted =
        post(&app, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(12.5))).await.unwrap();
    assert_eq!(posted.lines.len(), 2);
    assert_eq!(posted.lines[0].amount.to_string(), "12.50");
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(12.50));
    assert_eq!(balance_of(&app, app.tenant_id, REVENUE, None).await, dec!(-12.50));
    let client = app.sql().await;
    let read = ledger::get_entry(&client, app.tenant_id, posted.id).await.unwrap();
    assert_eq!(read, posted);
}

#[tokio::test]
async fn post_entry_guards_have_reasons() {
    let app = TestApp::spawn().await;
    let unbalanced = NewEntry {
        lines: vec![line(CASH, dec!(10), "EUR"), line(REVENUE, dec!(-9.99), "EUR")],
        ..transfer("2026-07-01", CASH, REVENUE, dec!(1))
    };
    let err = post(&app, app.tenant_id, unbalanced).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EntryNotBalanced);
    assert_eq!(err.value, Some(serde_json::json!({ "currency": "EUR", "difference": "0.01" })));

    let unknown = transfer("2026-07-01", "no_such.EUR", REVENUE, dec!(1));
    let err = post(&app, app.tenant_id, unknown).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AccountNotFound);
    assert_eq!(err.field.as_deref(), Some("lines[0].account"));

    let mixed = NewEntry {
        lines: vec![line(CASH, dec!(1), "USD"), line(REVENUE, dec!(-1), "USD")],
        ..transfer("2026-07-01", CASH, REVENUE, dec!(1))
    };
    let err = post(&app, app.tenant_id, mixed).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AccountCurrencyMismatch);
    assert_eq!(err.field.as_deref(), Some("lines[0].currency"));

    let huge = transfer("2026-07-01", CASH, REVENUE, dec!(1_000_000_000_000_000));
    let err = post(&app, app.tenant_id, huge).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AmountOutOfRange);

    let single = NewEntry {
        lines: vec![line(CASH, dec!(0), "EUR")],
        ..transfer("2026-07-01", CASH, REVENUE, dec!(1))
    };
    let err = post(&app, app.tenant_id, single).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EntryTooFewLines);

    let client = app.sql().await;
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_entries", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn closed_period_rejects_entries() {
    let app = TestApp::spawn().await;
    {
        let client = app.sql().await;
        let period = ledger::PeriodId::parse("2026-06").unwrap();
        let closed = ledger::close_period(&client, app.tenant_id, period).await.unwrap();
        assert_eq!(closed.status, ledger::periods::PeriodStatus::Closed);
        let again = ledger::close_period(&client, app.tenant_id, period).await.unwrap();
        assert_eq!(again.closed_at, closed.closed_at);
    }
    let err = post(&app, app.tenant_id, transfer("2026-06-30", CASH, REVENUE, dec!(1)))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PeriodClosed);
    assert_eq!(err.field.as_deref(), Some("effective_date"));
    post(&app, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(1))).await.unwrap();
}

#[tokio::test]
async fn reversal_cancels_once() {
    let app = TestApp::spawn().await;
    let original =
        post(&app, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(30))).await.unwrap();
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    let reversal =
        ledger::reverse_entry(&tx, app.tenant_id, original.id, Default::default()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reversal.reverses, Some(original.id));
    assert_eq!(reversal.lines[0].amount, dec!(-30.00));
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(0));

    let tx = client.transaction().await.unwrap();
    let err = ledger::reverse_entry(&tx, app.tenant_id, original.id, Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::EntryAlreadyReversed);
    let err = ledger::reverse_entry(&tx, app.tenant_id, Uuid::now_v7(), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    drop(tx);

    let read = ledger::get_entry(&client, app.tenant_id, original.id).await.unwrap();
    assert_eq!(read.reversed_by, Some(reversal.id));
}

#[tokio::test]
async fn idempotency_key_replays_entry() {
    let app = TestApp::spawn().await;
    let entry = NewEntry {
        idempotency_key: Some("payout-P1-2026-07".into()),
        ..transfer("2026-07-01", CASH, REVENUE, dec!(5))
    };
    let first = post(&app, app.tenant_id, entry.clone()).await.unwrap();
    let second = post(&app, app.tenant_id, entry.clone()).await.unwrap();
    assert_eq!(second.id, first.id);
    assert!(second.replayed);
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(5.00));

    let client = app.sql().await;
    let july = ledger::PeriodId::parse("2026-07").unwrap();
    ledger::close_period(&client, app.tenant_id, july).await.unwrap();
    let after_close = post(&app, app.tenant_id, entry.clone()).await.unwrap();
    assert_eq!(after_close.id, first.id, "a replay must not depend on the period");

    let other = NewEntry { lines: transfer("2026-07-01", CASH, REVENUE, dec!(6)).lines, ..entry };
    let err = post(&app, app.tenant_id, other).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::IdempotencyKeyReused);
}

#[tokio::test]
async fn as_of_counts_back_dated_entries() {
    let app = TestApp::spawn().await;
    post(&app, app.tenant_id, transfer("2026-07-20", CASH, REVENUE, dec!(100))).await.unwrap();
    post(&app, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(7))).await.unwrap();
    let cases = [
        ("2026-06-30", dec!(0)),
        ("2026-07-01", dec!(7)),
        ("2026-07-19", dec!(7)),
        ("2026-07-20", dec!(107)),
        ("2026-12-31", dec!(107)),
    ];
    for (as_of, expected) in cases {
        assert_eq!(balance_of(&app, app.tenant_id, CASH, Some(as_of)).await, expected, "{as_of}");
    }
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(107));
}

#[tokio::test]
async fn currencies_table_matches_code() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    let rows =
        client.query("SELECT code, minor_units FROM currencies ORDER BY code", &[]).await.unwrap();
    let stored: Vec<(String, i16)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let compiled: Vec<(String, i16)> = Currency::all()
        .map(|currency| (currency.code().to_string(), currency.minor_units() as i16))
        .collect();
    assert_eq!(stored, compiled);
}

#[tokio::test]
async fn open_transactions_share_no_balance_row() {
    let app = TestApp::spawn().await;
    let mut first_client = app.sql().await;
    let mut second_client = app.sql().await;
    let first = first_client.transaction().await.unwrap();
    ledger::post_entry(&first, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(1)))
        .await
        .unwrap();
    // The first transaction keeps its balance rows locked; the second must not wait for them.
    let second = second_client.transaction().await.unwrap();
    let posted = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        ledger::post_entry(&second, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(2))),
    )
    .await
    .expect("the second posting waited for the first transaction's balance rows");
    posted.unwrap();
    second.commit().await.unwrap();
    first.commit().await.unwrap();

    let client = app.sql().await;
    let slots: i64 = client
        .query_one(
            "SELECT count(*) FROM account_balances WHERE tenant_id = $1 AND account_code = $2",
            &[&app.tenant_id, &CASH],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(slots, 2);
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(3.00));
}

#[tokio::test]
async fn posting_waits_for_period_close() {
    let app = TestApp::spawn().await;
    let mut closer = app.sql().await;
    let close_tx = closer.transaction().await.unwrap();
    let july = ledger::PeriodId::parse("2026-07").unwrap();
    ledger::close_period(&close_tx, app.tenant_id, july).await.unwrap();

    // The posting reads the period as open, then waits for the closing transaction's lock.
    let posting = tokio::spawn({
        let pool = app.pool.clone();
        let tenant_id = app.tenant_id;
        async move {
            let mut client = pool.get().await.unwrap();
            let tx = client.transaction().await.unwrap();
            let entry = transfer("2026-07-15", CASH, REVENUE, dec!(1));
            ledger::post_entry(&tx, tenant_id, entry).await.map(|posted| posted.id)
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!posting.is_finished(), "the posting did not wait for the period close");
    close_tx.commit().await.unwrap();

    let err = posting.await.unwrap().unwrap_err();
    assert_eq!(err.code, ErrorCode::PeriodClosed, "{err}");
}

#[tokio::test]
async fn concurrent_reversals_post_one() {
    let app = TestApp::spawn().await;
    let original =
        post(&app, app.tenant_id, transfer("2026-07-01", CASH, REVENUE, dec!(9))).await.unwrap();
    let attempts = (0..8).map(|_| {
        let pool = app.pool.clone();
        let tenant_id = app.tenant_id;
        tokio::spawn(async move {
            let mut client = pool.get().await.unwrap();
            let tx = client.transaction().await.unwrap();
            let result =
                ledger::reverse_entry(&tx, tenant_id, original.id, Default::default()).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result.map(|posted| posted.id).map_err(|err| err.code)
        })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();
    let posted = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(posted, 1, "{results:?}");
    for result in results.iter().filter(|result| result.is_err()) {
        assert_eq!(result, &Err(ErrorCode::EntryAlreadyReversed));
    }
    assert_eq!(balance_of(&app, app.tenant_id, CASH, None).await, dec!(0));
}
