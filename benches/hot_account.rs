//! Posting throughput with a hot platform account against a uniform spread of accounts.
//!
//! Every entry has four lines. In `hot` mode one line of every entry goes to the same
//! account (`cash_clearing.EUR`). In `uniform` mode all four accounts are drawn from 64
//! partner accounts. Each client posts one entry per transaction through
//! `ledger::post_entry`. Rounds alternate between the modes so machine noise hits both;
//! the ratio hot / uniform is what matters. `floor` writes the rows of `hot` with plain SQL
//! into tables without triggers, which bounds what the posting path could reach. Runs on the
//! embedded cluster, or on the server at DATABASE_URL.
//!
//! `cargo bench --bench hot_account -- [clients] [seconds per round] [rounds]`
//!
//! With `BENCH_SINGLE_SLOT=1` the slot claim of the bench database is replaced to put every
//! transaction on slot 0, which shows what the striping saves: one balance row per
//! account, locked until commit by each transaction that touches it.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use subledger::db::{self, tenancy, testing::TestDatabase};
use subledger::ledger::{self, AccountCode, AccountKind, NewAccount, NewEntry, NewLine};
use subledger::money::{Currency, Money};
use uuid::Uuid;

const PARTNERS: usize = 64;
/// Upper bound on entries per client and round, whatever the duration.
const MAX_ENTRIES_PER_ROUND: u64 = 200_000;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Hot,
    Uniform,
    /// The rows of `Hot` written by plain SQL into tables without triggers or checks: an entry,
    /// four lines and four balance rows updated in place. A floor for the posting path.
    Floor,
}

fn partner(index: usize) -> AccountCode {
    AccountCode::parse(&format!("partner_payable:P{index}.EUR")).unwrap()
}

fn entry(mode: Mode, rng: &mut StdRng, eur: Currency) -> NewEntry {
    let mut accounts: Vec<AccountCode> =
        (0..4).map(|_| partner(rng.gen_range(0..PARTNERS))).collect();
    if let Mode::Hot | Mode::Floor = mode {
        accounts[0] = AccountCode::parse("cash_clearing.EUR").unwrap();
    }
    let amount = Decimal::new(rng.gen_range(100..100_000), 2);
    let signs = [3, -1, -1, -1];
    let lines = accounts
        .into_iter()
        .zip(signs)
        .map(|(account, sign)| NewLine {
            account,
            amount: Money::new(amount * Decimal::from(sign), eur).unwrap(),
            memo: None,
        })
        .collect();
    NewEntry {
        effective_date: chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        description: "bench".into(),
        idempotency_key: None,
        reverses: None,
        lines,
    }
}

async fn setup(pool: &deadpool_postgres::Pool) -> Uuid {
    let mut client = pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let tenant_id = tenancy::insert_tenant(&tx, "bench").await.unwrap();
    ledger::seed_default_chart(&tx, tenant_id).await.unwrap();
    let eur = Currency::parse("EUR").unwrap();
    for index in 0..PARTNERS {
        let account = NewAccount {
            code: partner(index),
            name: format!("Partner {index}"),
            kind: AccountKind::Liability,
            currency: eur,
            party: Some(format!("P{index}")),
        };
        ledger::ensure_account(&tx, tenant_id, &account).await.unwrap();
    }
    tx.commit().await.unwrap();
    tenant_id
}

/// Posts from `clients` connections for `duration`; returns entries per second.
async fn round(url: &str, tenant_id: Uuid, mode: Mode, clients: usize, duration: Duration) -> f64 {
    let pool = db::pool(url, clients).unwrap();
    let eur = Currency::parse("EUR").unwrap();
    let started = Instant::now();
    let tasks = (0..clients).map(|client_index| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(client_index as u64);
            let mut client = pool.get().await.unwrap();
            let mut posted = 0u64;
            while started.elapsed() < duration && posted < MAX_ENTRIES_PER_ROUND {
                let tx = client.transaction().await.unwrap();
                let entry = entry(mode, &mut rng, eur);
                let result = match mode {
                    Mode::Floor => write_floor(&tx, tenant_id, entry).await,
                    Mode::Hot | Mode::Uniform => {
                        ledger::post_entry(&tx, tenant_id, entry).await.map(drop)
                    }
                };
                match result {
                    Ok(()) => {
                        tx.commit().await.unwrap();
                        posted += 1;
                    }
                    Err(err) => eprintln!("post failed: {err}"),
                }
            }
            posted
        })
    });
    let mut total = 0;
    for task in futures::future::join_all(tasks).await {
        total += task.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

const FLOOR_TABLES: &str = "
    CREATE TABLE bench_entries (tenant_id uuid, id uuid PRIMARY KEY, effective_date date,
                                description text);
    CREATE TABLE bench_lines (entry_id uuid, line_no bigint, account text, amount numeric,
                              PRIMARY KEY (entry_id, line_no));
    CREATE TABLE bench_balances (account text PRIMARY KEY, balance numeric NOT NULL);
    INSERT INTO bench_balances SELECT code, 0 FROM accounts;";

/// Writes `entry` the plain way, with prepared statements sent one after the other.
async fn write_floor(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant_id: Uuid,
    entry: NewEntry,
) -> Result<(), subledger::error::Error> {
    let id = Uuid::now_v7();
    let accounts: Vec<&str> = entry.lines.iter().map(|line| line.account.as_str()).collect();
    let amounts: Vec<Decimal> = entry.lines.iter().map(|line| line.amount.amount()).collect();
    let insert_entry =
        tx.prepare_cached("INSERT INTO bench_entries VALUES ($1, $2, $3, $4)").await?;
    tx.execute(&insert_entry, &[&tenant_id, &id, &entry.effective_date, &entry.description])
        .await?;
    let insert_lines = tx
        .prepare_cached(
            "INSERT INTO bench_lines SELECT $1, n, a, m \
             FROM unnest($2::text[], $3::numeric[]) WITH ORDINALITY AS l (a, m, n)",
        )
        .await?;
    tx.execute(&insert_lines, &[&id, &accounts, &amounts]).await?;
    let update = tx
        .prepare_cached("UPDATE bench_balances SET balance = balance + $2 WHERE account = $1")
        .await?;
    let mut ordered: Vec<(&str, Decimal)> = accounts.into_iter().zip(amounts).collect();
    ordered.sort_by(|a, b| a.0.cmp(b.0));
    for (account, amount) in ordered {
        tx.execute(&update, &[&account, &amount]).await?;
    }
    Ok(())
}

/// Replaces the slot claim so that every transaction updates slot 0.
const SINGLE_SLOT: &str = "CREATE OR REPLACE FUNCTION ledger_balance_slot() RETURNS smallint \
    LANGUAGE sql AS 'SELECT 0::smallint'";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(8);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let database = TestDatabase::create().await.unwrap();
        let pool = db::pool(&database.url, 2).unwrap();
        let tenant_id = setup(&pool).await;
        pool.get().await.unwrap().batch_execute(FLOOR_TABLES).await.unwrap();
        if std::env::var("BENCH_SINGLE_SLOT").is_ok_and(|value| value == "1") {
            pool.get().await.unwrap().batch_execute(SINGLE_SLOT).await.unwrap();
            println!("balance slots: 1 (ablation)");
        }
        // Warm up both modes, then ANALYZE so cached plans are not those of empty tables.
        for mode in [Mode::Hot, Mode::Uniform, Mode::Floor] {
            round(&database.url, tenant_id, mode, clients, Duration::from_secs(2)).await;
        }
        pool.get().await.unwrap().batch_execute("ANALYZE").await.unwrap();
        let duration = Duration::from_secs(seconds);
        println!("clients={clients} seconds={seconds} (entries/s, 4 lines each)");
        for index in 0..rounds {
            let hot = round(&database.url, tenant_id, Mode::Hot, clients, duration).await;
            let uniform = round(&database.url, tenant_id, Mode::Uniform, clients, duration).await;
            let floor = round(&database.url, tenant_id, Mode::Floor, clients, duration).await;
            println!(
                "round {index}: hot {hot:.0}  uniform {uniform:.0}  floor {floor:.0}  \
                 hot/uniform {:.2}  hot/floor {:.2}",
                hot / uniform,
                hot / floor
            );
        }
    });
}
