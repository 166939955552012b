//! The auditor's views against many random entries, and the trial balance.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use subledger::ledger::accounts::{ensure_chart, ChartAccount};
use subledger::ledger::{self, AccountCode, NewEntry, NewLine};
use subledger::money::{Currency, Money};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::ledger::{post, transfer};

const CURRENCIES: [&str; 4] = ["EUR", "USD", "JPY", "BHD"];

/// Expected balances, kept in Rust while the entries are generated.
#[derive(Default)]
struct Books {
    /// Signed amount per (account, effective date).
    changes: HashMap<(String, NaiveDate), Decimal>,
}

impl Books {
    fn add(&mut self, entry: &NewEntry) {
        for line in &entry.lines {
            let key = (line.account.to_string(), entry.effective_date);
            *self.changes.entry(key).or_default() += line.amount.amount();
        }
    }

    fn balance(&self, account: &str, as_of: Option<NaiveDate>) -> Decimal {
        self.changes
            .iter()
            .filter(|((code, date), _)| code == account && as_of.is_none_or(|as_of| *date <= as_of))
            .map(|(_, amount)| *amount)
            .sum()
    }
}

/// Builds a random balanced entry of 2 to 6 lines in one or two currencies, dated in 2026.
fn random_entry(rng: &mut StdRng) -> NewEntry {
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let effective_date = start + Days::new(rng.gen_range(0..365));
    let currency_count = if rng.gen_bool(0.1) { 2 } else { 1 };
    let mut lines = Vec::new();
    for _ in 0..currency_count {
        let currency = Currency::parse(CURRENCIES[rng.gen_range(0..CURRENCIES.len())]).unwrap();
        let count = rng.gen_range(2..=if currency_count == 2 { 3 } else { 6 });
        let mut total = Decimal::ZERO;
        for index in 0..count {
            let account = ChartAccount::ALL[rng.gen_range(0..ChartAccount::ALL.len())];
            let amount = if index + 1 == count {
                -total
            } else {
                let minor: i64 = rng.gen_range(-1_000_000..=1_000_000);
                Decimal::new(minor, currency.minor_units())
            };
            total += amount;
            lines.push(NewLine {
                account: account.code(currency),
                amount: Money::new(amount, currency).unwrap(),
                memo: None,
            });
        }
    }
    NewEntry {
        effective_date,
        description: "random".into(),
        idempotency_key: None,
        reverses: None,
        lines,
    }
}

fn all_codes() -> Vec<AccountCode> {
    CURRENCIES
        .iter()
        .flat_map(|code| {
            let currency = Currency::parse(code).unwrap();
            ChartAccount::ALL.iter().map(move |account| account.code(currency))
        })
        .collect()
}

/// Posts `batches` of `batch_size` random entries, one transaction per batch, from
/// `workers` connections at once.
async fn post_random(
    app: &TestApp,
    seed: u64,
    workers: u64,
    batches: usize,
    batch_size: usize,
) -> Books {
    let tasks = (0..workers).map(|worker| async move {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker));
        let mut books = Books::default();
        let mut client = app.sql().await;
        for _ in 0..batches {
            let tx = client.transaction().await.unwrap();
            for _ in 0..batch_size {
                let entry = random_entry(&mut rng);
                books.add(&entry);
                ledger::post_entry(&tx, app.tenant_id, entry).await.expect("random entry");
            }
            tx.commit().await.unwrap();
        }
        books
    });
    let mut all = Books::default();
    for books in join_all(tasks).await {
        for (key, amount) in books.changes {
            *all.changes.entry(key).or_default() += amount;
        }
    }
    all
}

async fn assert_audit_views_empty(app: &TestApp, seed: u64) {
    let client = app.sql().await;
    for view in ["audit.balance_check", "audit.unbalanced_entries"] {
        let rows = client.query(&format!("SELECT tenant_id FROM {view}"), &[]).await.unwrap();
        assert_eq!(rows.len(), 0, "{view} is not empty (seed {seed})");
    }
    let unequal = client
        .query(
            "SELECT currency FROM audit.trial_balance_totals WHERE total_debit <> total_credit",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(unequal.len(), 0, "trial balance does not balance (seed {seed})");
}

#[tokio::test]
async fn random_entries_keep_balances_exact() {
    let app = TestApp::spawn().await;
    let seed: u64 = std::env::var("LEDGER_PROPERTY_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(rand::random);
    {
        let client = app.sql().await;
        for code in ["JPY", "BHD"] {
            ensure_chart(&client, app.tenant_id, Currency::parse(code).unwrap()).await.unwrap();
        }
    }
    // 4 connections × 25 transactions × 100 entries = 10,000 entries.
    let books = post_random(&app, seed, 4, 25, 100).await;

    let client = app.sql().await;
    let mut rng = StdRng::seed_from_u64(seed);
    for code in all_codes() {
        let stored = ledger::balance(&client, app.tenant_id, &code, None).await.unwrap();
        let lines: Decimal = client
            .query_one(
                "SELECT coalesce(sum(amount), 0) FROM journal_lines \
                 WHERE tenant_id = $1 AND account_code = $2",
                &[&app.tenant_id, &code.as_str()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored.balance, lines, "{code}: stored vs lines (seed {seed})");
        assert_eq!(stored.balance, books.balance(code.as_str(), None), "{code} (seed {seed})");
        let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(rng.gen_range(0..365));
        let past = ledger::balance(&client, app.tenant_id, &code, Some(as_of)).await.unwrap();
        let expected = books.balance(code.as_str(), Some(as_of));
        assert_eq!(past.balance, expected, "{code} as of {as_of} (seed {seed})");
    }
    assert_audit_views_empty(&app, seed).await;
}

#[tokio::test]
async fn random_http_entries_keep_balances_exact() {
    let app = TestApp::spawn().await;
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut books = Books::default();
    let entries: Vec<NewEntry> = (0..200)
        .map(|_| {
            let mut entry = random_entry(&mut rng);
            entry.lines.retain(|line| ["EUR", "USD"].contains(&line.amount.currency().code()));
            entry
        })
        .filter(|entry| entry.lines.len() >= 2)
        .collect();
    for chunk in entries.chunks(8) {
        let requests = chunk.iter().enumerate().map(|(index, entry)| {
            let body = json!({
                "effective_date": entry.effective_date,
                "lines": entry.lines.iter().map(|line| json!({
                    "account": line.account,
                    "amount": line.amount.amount().to_string(),
                    "currency": line.amount.currency().code(),
                })).collect::<Vec<Value>>(),
            });
            let key = format!("{}-{index}", Uuid::now_v7());
            let app = &app;
            async move { app.post("/v1/entries", &app.write_key, &key, &body).await }
        });
        for response in join_all(requests).await {
            assert_eq!(response.status, 201, "{} (seed {seed})", response.body);
        }
        chunk.iter().for_each(|entry| books.add(entry));
    }
    for currency in ["EUR", "USD"] {
        let currency = Currency::parse(currency).unwrap();
        for account in ChartAccount::ALL {
            let code = account.code(currency);
            let response = app.get(&format!("/v1/accounts/{code}/balance"), &app.read_key).await;
            let expected = books.balance(code.as_str(), None);
            assert_eq!(response.body["balance"], expected.to_string(), "{code} (seed {seed})");
        }
    }
    assert_audit_views_empty(&app, seed).await;
}

#[tokio::test]
async fn trial_balance_snapshot() {
    let app = TestApp::spawn().await;
    let cash = "cash_clearing.EUR";
    post(&app, app.tenant_id, transfer("2026-07-01", cash, "commission_revenue.EUR", dec!(100)))
        .await
        .unwrap();
    post(&app, app.tenant_id, transfer("2026-07-02", cash, "tax_payable.EUR", dec!(19)))
        .await
        .unwrap();
    post(&app, app.tenant_id, transfer("2026-07-03", "bank.EUR", cash, dec!(50.50))).await.unwrap();
    let usd = NewEntry {
        lines: vec![
            crate::ledger::line("bank.USD", dec!(10), "USD"),
            crate::ledger::line("customer_credit.USD", dec!(-10), "USD"),
        ],
        ..transfer("2026-07-04", cash, cash, dec!(0))
    };
    post(&app, app.tenant_id, usd).await.unwrap();

    let client = app.sql().await;
    let rows = client
        .query(
            "SELECT currency, account_code, kind, debit::text, credit::text \
             FROM audit.trial_balance WHERE tenant_id = $1 AND (debit <> 0 OR credit <> 0) \
             ORDER BY currency, account_code",
            &[&app.tenant_id],
        )
        .await
        .unwrap();
    let accounts: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "currency": row.get::<_, String>(0),
                "account": row.get::<_, String>(1),
                "kind": row.get::<_, String>(2),
                "debit": row.get::<_, String>(3),
                "credit": row.get::<_, String>(4),
            })
        })
        .collect();
    let totals = client
        .query(
            "SELECT currency, total_debit::text, total_credit::text FROM audit.trial_balance_totals \
             WHERE tenant_id = $1 ORDER BY currency",
            &[&app.tenant_id],
        )
        .await
        .unwrap();
    let totals: Vec<Value> = totals
        .iter()
        .map(|row| {
            json!([row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)])
        })
        .collect();
    insta::assert_json_snapshot!(
        "trial_balance",
        json!({ "accounts": accounts, "totals": totals })
    );

    let as_of = client
        .query(
            "SELECT account_code, debit::text, credit::text \
             FROM audit.trial_balance_as_of($1, '2026-07-01') WHERE debit <> 0 OR credit <> 0",
            &[&app.tenant_id],
        )
        .await
        .unwrap();
    let as_of: Vec<(String, String, String)> =
        as_of.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(
        as_of,
        vec![
            ("cash_clearing.EUR".into(), "100.00".into(), "0.00".into()),
            ("commission_revenue.EUR".into(), "0.00".into(), "100.00".into()),
        ]
    );
}
