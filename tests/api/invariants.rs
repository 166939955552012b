//! The journal's invariants as Postgres enforces them against raw SQL, per role.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::helpers::{table_statistic, TestApp};

fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code().map(|code| code.code().to_string()).unwrap_or_else(|| format!("{err}"))
}

const INSERT_ENTRY: &str =
    "INSERT INTO journal_entries (tenant_id, id, effective_date, description) \
                            VALUES ($1, $2, $3::text::date, 'raw SQL')";
const INSERT_LINE: &str = "INSERT INTO journal_lines \
                           (tenant_id, entry_id, line_no, account_code, currency, amount) \
                           VALUES ($1, $2, $3, $4, $5, $6::text::numeric)";

/// Inserts an entry with `lines` (account, currency, amount) as `role` and commits.
async fn insert_raw(
    app: &TestApp,
    role: &str,
    date: &str,
    lines: &[(&str, &str, &str)],
) -> Result<Uuid, tokio_postgres::Error> {
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!("SET LOCAL ROLE {role}")).await?;
    let id = Uuid::now_v7();
    tx.execute(INSERT_ENTRY, &[&app.tenant_id, &id, &date]).await?;
    for (line_no, (account, currency, amount)) in (1i16..).zip(lines) {
        tx.execute(INSERT_LINE, &[&app.tenant_id, &id, &line_no, account, currency, amount])
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The statement that posts an entry with its lines.
const INSERT_ENTRY_WITH_LINES: &str = include_str!("../../src/ledger/sql/insert_entry.sql");

const CASH: &str = "cash_clearing.EUR";
const REVENUE: &str = "commission_revenue.EUR";

#[tokio::test]
async fn app_role_posts_balanced_entry() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "10.00"), (REVENUE, "EUR", "-10.00")];
    insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.expect("balanced entry");
    let client = app.sql().await;
    let row = client
        .query_one(
            "SELECT balance FROM audit.account_balances WHERE tenant_id = $1 AND account_code = $2",
            &[&app.tenant_id, &CASH],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, rust_decimal::Decimal>(0).to_string(), "10.00");
}

#[tokio::test]
async fn unbalanced_entry_fails_at_commit() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "10.00"), (REVENUE, "EUR", "-9.99")];
    let err = insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001");
    assert!(err.as_db_error().unwrap().message().contains("EUR lines sum to 0.01"), "{err}");
    let single = [(CASH, "EUR", "10.00")];
    let err = insert_raw(&app, "subledger_app", "2026-07-01", &single).await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001");
    let none: [(&str, &str, &str); 0] = [];
    let err = insert_raw(&app, "subledger_app", "2026-07-01", &none).await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001");
}

/// A temporary table named like a journal table comes first in the session's default search
/// path. The entry check must still sum the journal's own lines.
#[tokio::test]
async fn entry_check_ignores_temporary_tables() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(
        "SET LOCAL ROLE subledger_app; \
         CREATE TEMP TABLE journal_lines (LIKE public.journal_lines) ON COMMIT DROP",
    )
    .await
    .expect("the app role may create temporary tables");
    let id = Uuid::now_v7();
    tx.execute(INSERT_ENTRY, &[&app.tenant_id, &id, &"2026-07-01"]).await.unwrap();
    let unbalanced = INSERT_LINE.replace("INTO journal_lines", "INTO public.journal_lines");
    assert_ne!(unbalanced, INSERT_LINE, "the real line must go to the journal");
    tx.execute(&unbalanced, &[&app.tenant_id, &id, &1i16, &CASH, &"EUR", &"10.00"]).await.unwrap();
    // Balanced lines in the look-alike table, which the check must not read.
    for (line_no, amount) in [(1i16, "10.00"), (2, "-10.00")] {
        tx.execute(INSERT_LINE, &[&app.tenant_id, &id, &line_no, &CASH, &"EUR", &amount])
            .await
            .unwrap();
    }
    let err = tx.commit().await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001", "{err}");
    let message = err.as_db_error().map(|db| db.message().to_string()).unwrap_or_default();
    assert!(message.contains("EUR lines sum to 10.00"), "{message}");

    // An empty look-alike of the closed periods must not reopen a closed month.
    client
        .execute("SELECT ledger_close_period($1, '2026-06-01')", &[&app.tenant_id])
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(
        "SET LOCAL ROLE subledger_app; \
         CREATE TEMP TABLE fiscal_periods (LIKE public.fiscal_periods) ON COMMIT DROP",
    )
    .await
    .unwrap();
    let id = Uuid::now_v7();
    tx.execute(INSERT_ENTRY, &[&app.tenant_id, &id, &"2026-06-30"]).await.unwrap();
    for (line_no, (account, amount)) in [(1i16, (CASH, "1.00")), (2, (REVENUE, "-1.00"))] {
        tx.execute(INSERT_LINE, &[&app.tenant_id, &id, &line_no, &account, &"EUR", &amount])
            .await
            .unwrap();
    }
    let err = tx.commit().await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL002", "{err}");
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_entries", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn lines_are_checked_against_ledger() {
    let app = TestApp::spawn().await;
    let cases = [
        ("precision", [(CASH, "EUR", "0.001"), (REVENUE, "EUR", "-0.001")], "SL007"),
        ("unknown account", [("nope.EUR", "EUR", "1"), (REVENUE, "EUR", "-1")], "SL003"),
        ("currency", [(CASH, "USD", "1"), (REVENUE, "USD", "-1")], "SL004"),
        ("unknown currency", [(CASH, "XXX", "1"), (REVENUE, "XXX", "-1")], "SL004"),
        ("range", [(CASH, "EUR", "1e15"), (REVENUE, "EUR", "-1e15")], "23514"),
    ];
    for (name, lines, expected) in cases {
        let err = insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap_err();
        assert_eq!(sqlstate(&err), expected, "{name}: {err}");
    }
    let client = app.sql().await;
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_lines", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn lines_cannot_join_committed_entry() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "1.00"), (REVENUE, "EUR", "-1.00")];
    let id = insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap();
    let client = app.sql().await;
    let err = client
        .execute(INSERT_LINE, &[&app.tenant_id, &id, &3i16, &CASH, &"EUR", &"5.00"])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "SL006");
}

#[tokio::test]
async fn closed_period_fails_at_commit() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    client
        .execute("SELECT ledger_close_period($1, '2026-06-01')", &[&app.tenant_id])
        .await
        .unwrap();
    let lines = [(CASH, "EUR", "1.00"), (REVENUE, "EUR", "-1.00")];
    let err = insert_raw(&app, "subledger_app", "2026-06-30", &lines).await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL002");
    insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.expect("open period");
}

/// Starts a REPEATABLE READ transaction as the app role.
async fn begin_repeatable_read(
    client: &mut deadpool_postgres::Object,
) -> deadpool_postgres::Transaction<'_> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
    tx
}

/// Inserts an entry dated `date` of 1.00 on `CASH` and -1.00 on `REVENUE` and returns its id.
async fn insert_balanced_entry(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant_id: Uuid,
    date: &str,
) -> Result<Uuid, tokio_postgres::Error> {
    let id = Uuid::now_v7();
    tx.execute(INSERT_ENTRY, &[&tenant_id, &id, &date]).await?;
    for (line_no, (account, amount)) in [(1i16, (CASH, "1.00")), (2, (REVENUE, "-1.00"))] {
        tx.execute(INSERT_LINE, &[&tenant_id, &id, &line_no, &account, &"EUR", &amount]).await?;
    }
    Ok(id)
}

/// Inserts a balanced entry dated `date`, as [`insert_balanced_entry`] does, then commits.
async fn commit_balanced_entry(
    tx: deadpool_postgres::Transaction<'_>,
    tenant_id: Uuid,
    date: &str,
) -> Result<(), tokio_postgres::Error> {
    insert_balanced_entry(&tx, tenant_id, date).await?;
    tx.commit().await
}

async fn close_month(app: &TestApp, month_start: &str) {
    let client = app.sql().await;
    client
        .execute("SELECT ledger_close_period($1, $2::text::date)", &[&app.tenant_id, &month_start])
        .await
        .unwrap();
}

async fn count_closed(tx: &deadpool_postgres::Transaction<'_>, tenant_id: Uuid) -> i64 {
    let sql = "SELECT count(*) FROM fiscal_periods WHERE tenant_id = $1";
    tx.query_one(sql, &[&tenant_id]).await.unwrap().get(0)
}

/// Posts into June 2026 in a REPEATABLE READ transaction whose snapshot is taken before June is
/// closed on another connection.
async fn post_in_snapshot_before_close(app: &TestApp) -> Result<(), tokio_postgres::Error> {
    let mut client = app.sql().await;
    let tx = begin_repeatable_read(&mut client).await;
    let closed_before = count_closed(&tx, app.tenant_id).await;
    close_month(app, "2026-06-01").await;
    assert_eq!(count_closed(&tx, app.tenant_id).await, closed_before, "snapshot predates close");
    commit_balanced_entry(tx, app.tenant_id, "2026-06-30").await
}

async fn count_entries(app: &TestApp) -> i64 {
    let client = app.sql().await;
    let sql = "SELECT count(*) FROM journal_entries WHERE tenant_id = $1";
    client.query_one(sql, &[&app.tenant_id]).await.unwrap().get(0)
}

fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error().map(|db| db.message().to_string()).unwrap_or_default()
}

/// Under REPEATABLE READ the check at commit reads the transaction's snapshot, which cannot see
/// a close committed after it was taken. The posting must fail rather than commit an entry
/// into the closed month, whether the close is the tenant's first or a later one.
#[tokio::test]
async fn repeatable_read_posting_fails_after_close() {
    let first = TestApp::spawn().await;
    let err = post_in_snapshot_before_close(&first).await.unwrap_err();
    assert_eq!(sqlstate(&err), "40001", "{err}");
    assert!(message(&err).contains("closed after this transaction's snapshot"), "{err}");
    assert_eq!(count_entries(&first).await, 0);

    let later = TestApp::spawn().await;
    close_month(&later, "2026-05-01").await;
    let err = post_in_snapshot_before_close(&later).await.unwrap_err();
    assert_eq!(sqlstate(&err), "40001", "{err}");
    assert!(message(&err).contains("closed after this transaction's snapshot"), "{err}");
    assert_eq!(count_entries(&later).await, 0);
}

/// Two REPEATABLE READ postings of a tenant that never closed a month both commit, the one whose
/// snapshot is older last.
#[tokio::test]
async fn repeatable_read_postings_without_close_commit() {
    let app = TestApp::spawn().await;
    let mut older = app.sql().await;
    let mut newer = app.sql().await;
    let older_tx = begin_repeatable_read(&mut older).await;
    // The first query takes the older transaction's snapshot.
    count_closed(&older_tx, app.tenant_id).await;
    let newer_tx = begin_repeatable_read(&mut newer).await;
    commit_balanced_entry(newer_tx, app.tenant_id, "2026-06-30").await.expect("newer commits");
    commit_balanced_entry(older_tx, app.tenant_id, "2026-06-30").await.expect("older commits");
    assert_eq!(count_entries(&app).await, 2);
}

/// REPEATABLE READ postings into an open month commit, before and after the tenant's first
/// close, and one that starts after its month closed gets the closed period's own error.
#[tokio::test]
async fn repeatable_read_posting_into_open_month_commits() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let tx = begin_repeatable_read(&mut client).await;
    commit_balanced_entry(tx, app.tenant_id, "2026-06-30").await.expect("nothing is closed");

    close_month(&app, "2026-05-01").await;
    let tx = begin_repeatable_read(&mut client).await;
    commit_balanced_entry(tx, app.tenant_id, "2026-06-30").await.expect("June is open");

    close_month(&app, "2026-06-01").await;
    let tx = begin_repeatable_read(&mut client).await;
    let err = commit_balanced_entry(tx, app.tenant_id, "2026-06-30").await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL002", "{err}");
    assert_eq!(count_entries(&app).await, 2);
}

/// Opens a transaction as the app role and inserts a balanced entry: 1.00 on `CASH` and -1.00 on
/// `REVENUE`.
async fn begin_with_balanced_entry(
    client: &mut deadpool_postgres::Object,
    tenant_id: Uuid,
) -> (deadpool_postgres::Transaction<'_>, Uuid) {
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
    let id = insert_balanced_entry(&tx, tenant_id, "2026-07-01").await.unwrap();
    (tx, id)
}

/// An entry checked early with SET CONSTRAINTS ... IMMEDIATE is checked again when lines are
/// added to it, at once while the check is immediate and at commit once it is deferred again.
#[tokio::test]
async fn checked_entry_is_rechecked_after_new_lines() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let (tx, id) = begin_with_balanced_entry(&mut client, app.tenant_id).await;
    tx.batch_execute("SET CONSTRAINTS journal_entries_balanced IMMEDIATE").await.unwrap();
    let err = tx
        .execute(INSERT_LINE, &[&app.tenant_id, &id, &3i16, &CASH, &"EUR", &"5.00"])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "SL001", "{err}");
    drop(tx);

    let (tx, id) = begin_with_balanced_entry(&mut client, app.tenant_id).await;
    tx.batch_execute(
        "SET CONSTRAINTS journal_entries_balanced IMMEDIATE; \
         SET CONSTRAINTS journal_entries_balanced DEFERRED",
    )
    .await
    .unwrap();
    tx.execute(INSERT_LINE, &[&app.tenant_id, &id, &3i16, &CASH, &"EUR", &"5.00"])
        .await
        .expect("the check waits for the commit");
    let err = tx.commit().await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001", "{err}");
    let message = err.as_db_error().map(|db| db.message().to_string()).unwrap_or_default();
    assert!(message.contains("EUR lines sum to 5.00"), "{message}");
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_entries", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

/// A check that fails inside a savepoint which then rolls back runs again at commit.
#[tokio::test]
async fn entry_check_reruns_after_savepoint_rollback() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let mut tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
    let id = Uuid::now_v7();
    tx.execute(INSERT_ENTRY, &[&app.tenant_id, &id, &"2026-07-01"]).await.unwrap();
    tx.execute(INSERT_LINE, &[&app.tenant_id, &id, &1i16, &CASH, &"EUR", &"2.00"]).await.unwrap();
    let savepoint = tx.savepoint("early_check").await.unwrap();
    let err = savepoint
        .batch_execute("SET CONSTRAINTS journal_entries_balanced IMMEDIATE")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "SL001", "{err}");
    savepoint.rollback().await.unwrap();
    let err = tx.commit().await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL001", "{err}");
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_entries", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

/// The queue of entries awaiting their check is for the journal's triggers alone, and it is
/// empty again after every commit.
#[tokio::test]
async fn entry_queue_is_closed_and_emptied() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "1.00"), (REVENUE, "EUR", "-1.00")];
    insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap();
    let mut client = app.sql().await;
    for statement in [
        "SELECT count(*) FROM ledger_unchecked_entries",
        "DELETE FROM ledger_unchecked_entries",
        "DELETE FROM ledger_entry_checks",
        "INSERT INTO ledger_entry_checks (tenant_id, xact) \
         SELECT id, pg_current_xact_id() FROM tenants",
    ] {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
        let err = tx.batch_execute(statement).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{statement}: {err}");
    }
    for table in ["ledger_unchecked_entries", "ledger_entry_checks"] {
        let count: i64 =
            client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        assert_eq!(count, 0, "{table}");
    }
}

/// Each tenant's entries are queued and checked apart, and a transaction that posts for two
/// tenants commits only when the entries of both are balanced.
#[tokio::test]
async fn entry_check_covers_every_tenant() {
    let app = TestApp::spawn().await;
    let (other, _) = app.other_tenant("Second shop").await;
    let mut client = app.sql().await;
    for (other_credit, expected) in [("-4.00", Some("SL001")), ("-5.00", None)] {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
        let entries = [(app.tenant_id, "1.00", "-1.00"), (other, "5.00", other_credit)];
        for (tenant_id, debit, credit) in entries {
            let id = Uuid::now_v7();
            tx.execute(INSERT_ENTRY, &[&tenant_id, &id, &"2026-07-01"]).await.unwrap();
            for (line_no, (account, amount)) in [(1i16, (CASH, debit)), (2, (REVENUE, credit))] {
                tx.execute(INSERT_LINE, &[&tenant_id, &id, &line_no, &account, &"EUR", &amount])
                    .await
                    .unwrap();
            }
        }
        let committed = tx.commit().await;
        match expected {
            Some(code) => assert_eq!(sqlstate(&committed.unwrap_err()), code),
            None => committed.expect("both tenants' entries are balanced"),
        }
    }
    let count: i64 =
        client.query_one("SELECT count(*) FROM journal_entries", &[]).await.unwrap().get(0);
    assert_eq!(count, 2, "only the balanced pair is kept");
    let queued: i64 = client
        .query_one("SELECT count(*) FROM ledger_unchecked_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn journal_is_append_only() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "1.00"), (REVENUE, "EUR", "-1.00")];
    insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap();
    let statements = [
        "UPDATE journal_lines SET amount = 2",
        "DELETE FROM journal_lines",
        "UPDATE journal_entries SET description = 'changed'",
        "DELETE FROM journal_entries",
        "UPDATE account_balances SET balance = 0",
        "TRUNCATE journal_lines",
    ];
    let mut client = app.sql().await;
    for statement in statements {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
        let err = tx.batch_execute(statement).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{statement}: {err}");
    }
    // The table owner has every privilege; the triggers still reject the change.
    for statement in &statements[..4] {
        let err = client.batch_execute(statement).await.unwrap_err();
        assert_eq!(sqlstate(&err), "SL005", "{statement}");
    }
    let err = client.batch_execute("TRUNCATE journal_lines").await.unwrap_err();
    assert_eq!(sqlstate(&err), "SL005");
}

#[tokio::test]
async fn auditor_reads_audit_schema_only() {
    let app = TestApp::spawn().await;
    let lines = [(CASH, "EUR", "1.00"), (REVENUE, "EUR", "-1.00")];
    insert_raw(&app, "subledger_app", "2026-07-01", &lines).await.unwrap();
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_auditor").await.unwrap();
    let rows = tx
        .query("SELECT * FROM audit.journal WHERE tenant_id = $1", &[&app.tenant_id])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let tables = [
        "audit.currencies",
        "audit.accounts",
        "audit.trial_balance",
        "audit.trial_balance_totals",
        "audit.account_balances",
        "audit.balance_check",
        "audit.unbalanced_entries",
        "audit.daily_balance_changes",
        "audit.closed_periods",
    ];
    for table in tables {
        tx.query(&format!("SELECT * FROM {table}"), &[]).await.expect(table);
    }
    let balance: rust_decimal::Decimal = tx
        .query_one("SELECT audit.balance_as_of($1, $2, '2026-07-01')", &[&app.tenant_id, &CASH])
        .await
        .unwrap()
        .get(0);
    assert_eq!(balance.to_string(), "1.00");
    let trial = tx
        .query("SELECT * FROM audit.trial_balance_as_of($1, '2026-07-01')", &[&app.tenant_id])
        .await
        .unwrap();
    assert!(!trial.is_empty());
    drop(tx);

    let writes = [
        "INSERT INTO journal_entries (tenant_id, id, effective_date, description) \
         VALUES (gen_random_uuid(), gen_random_uuid(), '2026-07-01', 'x')",
        "INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'x')",
        "INSERT INTO accounts (tenant_id, code, name, kind, currency) \
         VALUES (gen_random_uuid(), 'x', 'x', 'asset', 'EUR')",
        "INSERT INTO audit.accounts (tenant_id, account_code, name, kind, currency) \
         VALUES (gen_random_uuid(), 'x', 'x', 'asset', 'EUR')",
        "SELECT * FROM journal_lines",
        "SELECT * FROM api_keys",
        "SELECT ledger_close_period(gen_random_uuid(), '2026-06-01')",
    ];
    for statement in writes {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL ROLE subledger_auditor").await.unwrap();
        let err = tx.batch_execute(statement).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{statement}: {err}");
    }
}

#[tokio::test]
async fn audit_views_are_documented() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    let rows = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'audit' AND c.relkind = 'v' \
               AND obj_description(c.oid, 'pg_class') IS NULL",
            &[],
        )
        .await
        .unwrap();
    let undocumented: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert!(undocumented.is_empty(), "views without COMMENT ON: {undocumented:?}");
}

#[tokio::test]
async fn balance_slot_claim_skips_taken_slots() {
    let app = TestApp::spawn().await;
    let mut holder = app.sql().await;
    let holder_tx = holder.transaction().await.unwrap();
    for slot in (0..16).filter(|slot| *slot != 7) {
        holder_tx.execute("SELECT pg_advisory_xact_lock(1397506643, $1)", &[&slot]).await.unwrap();
    }
    let mut claimant = app.sql().await;
    let tx = claimant.transaction().await.unwrap();
    assert_eq!(slot(&tx).await, 7);
    assert_eq!(slot(&tx).await, 7, "a transaction keeps its slot");
    let mut latecomer = app.sql().await;
    let late_tx = latecomer.transaction().await.unwrap();
    let pid: i32 = late_tx.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    assert_eq!(slot(&late_tx).await, (pid % 16) as i16, "with every slot taken, share the own");
}

async fn slot(tx: &deadpool_postgres::Transaction<'_>) -> i16 {
    let row = tx.query_one("SELECT ledger_balance_slot()", &[]).await.unwrap();
    row.get(0)
}

#[tokio::test]
async fn trigger_plans_use_indexes_when_empty() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let entries_before = table_statistic(&client, "journal_entries", "seq_scan").await;
    let accounts_before = table_statistic(&client, "accounts", "seq_scan").await;

    // The trigger plans are made while the journal is empty and nothing is analyzed, which
    // is where a plan that scans whole tables per posted entry would be chosen. The entry and
    // its lines go in one statement, as the service posts them.
    let accounts = ["cash_clearing.EUR", "bank.EUR", "suspense.EUR", "commission_revenue.EUR"];
    let accounts: Vec<String> = accounts.iter().map(|code| code.to_string()).collect();
    let currencies = vec!["EUR".to_string(); 4];
    let amounts = vec![dec!(3.00), dec!(2.00), dec!(-1.00), dec!(-4.00)];
    let memos: Vec<Option<String>> = vec![None; 4];
    for n in 0..40 {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
        let params: [&(dyn ToSql + Sync); 10] = [
            &app.tenant_id,
            &Uuid::now_v7(),
            &NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            &"fresh database",
            &format!("fresh-{n}"),
            &None::<Uuid>,
            &accounts,
            &currencies,
            &amounts,
            &memos,
        ];
        tx.query_one(INSERT_ENTRY_WITH_LINES, &params).await.unwrap();
        tx.commit().await.unwrap();
    }

    let entries_scans =
        table_statistic(&client, "journal_entries", "seq_scan").await - entries_before;
    let accounts_scans = table_statistic(&client, "accounts", "seq_scan").await - accounts_before;
    assert!(entries_scans < 5, "{entries_scans} scans of journal_entries for 40 entries");
    assert!(accounts_scans < 5, "{accounts_scans} scans of accounts for 40 entries");
}

const INSERT_ENTRIES: &str = include_str!("../../src/ledger/sql/insert_entries.sql");

/// Runs the service's bulk insert of entries and lines as the application role, commits, and
/// returns how many entries it inserted.
async fn insert_entries_as_app(
    client: &mut deadpool_postgres::Object,
    params: &[&(dyn ToSql + Sync)],
) -> i64 {
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_app").await.unwrap();
    let inserted: i64 = tx.query_one(INSERT_ENTRIES, params).await.unwrap().get(0);
    tx.commit().await.unwrap();
    inserted
}

/// Posts fifty entries of four lines with one statement, as a batch of invoices posts them.
async fn post_fifty(client: &mut deadpool_postgres::Object, tenant_id: Uuid, statement: usize) {
    let codes = ["cash_clearing.EUR", "bank.EUR", "suspense.EUR", "commission_revenue.EUR"];
    let amounts = [dec!(3.00), dec!(2.00), dec!(-1.00), dec!(-4.00)];
    let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let ids: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let keys: Vec<String> = (0..50).map(|n| format!("bulk-{statement}-{n}")).collect();
    let line_entries: Vec<Uuid> = ids.iter().flat_map(|id| [*id; 4]).collect();
    let line_numbers: Vec<i16> = (0..50).flat_map(|_| 1..=4).collect();
    let accounts: Vec<&str> = (0..50).flat_map(|_| codes).collect();
    let line_amounts: Vec<Decimal> = (0..50).flat_map(|_| amounts).collect();
    let params: [&(dyn ToSql + Sync); 12] = [
        &vec![tenant_id; 50],
        &ids,
        &vec![day; 50],
        &vec!["bulk"; 50],
        &keys,
        &line_entries,
        &line_numbers,
        &accounts,
        &vec!["EUR"; 200],
        &line_amounts,
        &vec![None::<&str>; 200],
        &vec![tenant_id; 200],
    ];
    assert_eq!(insert_entries_as_app(client, &params).await, 50);
}

#[tokio::test]
async fn bulk_insert_looks_up_entries_by_key() {
    let app = TestApp::spawn().await;
    // One connection posts every statement, so the trigger keeps the plans it makes.
    let mut client = app.sql().await;
    let admin = app.sql().await;
    for statement in 0..20 {
        post_fifty(&mut client, app.tenant_id, statement).await;
        if statement == 4 {
            // Autovacuum analyzes the tables as they grow, and the trigger plans again with
            // the statistics of a small journal.
            admin.batch_execute("ANALYZE journal_entries, journal_lines, accounts").await.unwrap();
        }
    }
    let before = table_statistic(&client, "journal_entries", "idx_tup_fetch").await;
    post_fifty(&mut client, app.tenant_id, 20).await;
    let fetched = table_statistic(&client, "journal_entries", "idx_tup_fetch").await - before;

    // The lines trigger looks each entry up twice, once to check it and once for its date,
    // and the check at commit once more, for its date and transaction, which makes 150
    // fetches. Looking entries up per line in the lines trigger would make 450, and reading the
    // whole journal 1,000 per statement.
    assert!((50..=150).contains(&fetched), "{fetched} journal entries fetched to post 50");
}

/// One statement that inserts entries of two dates, one of them with two lines on the same
/// account, adds each line once to the balance and to the daily change of its entry's date.
#[tokio::test]
async fn bulk_insert_dates_each_line_once() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let ids = [Uuid::now_v7(), Uuid::now_v7()];
    let days = [NaiveDate::from_ymd_opt(2026, 11, 2), NaiveDate::from_ymd_opt(2026, 11, 3)];
    let line_entries = [ids[0], ids[0], ids[0], ids[1], ids[1]];
    let accounts = [CASH, CASH, REVENUE, CASH, REVENUE];
    let amounts = [dec!(3.00), dec!(2.00), dec!(-5.00), dec!(1.00), dec!(-1.00)];
    let params: [&(dyn ToSql + Sync); 12] = [
        &vec![app.tenant_id; 2],
        &ids.to_vec(),
        &days.iter().map(|day| day.unwrap()).collect::<Vec<_>>(),
        &vec!["bulk"; 2],
        &vec!["dated-1", "dated-2"],
        &line_entries.to_vec(),
        &vec![1i16, 2, 3, 1, 2],
        &accounts.to_vec(),
        &vec!["EUR"; 5],
        &amounts.to_vec(),
        &vec![None::<&str>; 5],
        &vec![app.tenant_id; 5],
    ];
    assert_eq!(insert_entries_as_app(&mut client, &params).await, 2);

    let rows = client
        .query(
            "SELECT effective_date::text, sum(delta)::text, sum(line_count) \
             FROM account_daily_balances WHERE tenant_id = $1 AND account_code = $2 \
             GROUP BY effective_date ORDER BY effective_date",
            &[&app.tenant_id, &CASH],
        )
        .await
        .unwrap();
    let days: Vec<(String, String, Decimal)> =
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    let expected = [("2026-11-02", "5.00", dec!(2)), ("2026-11-03", "1.00", dec!(1))]
        .map(|(day, delta, lines)| (day.to_string(), delta.to_string(), lines));
    assert_eq!(days, expected);
    let differences: i64 = client
        .query_one(
            "SELECT count(*) FROM audit.balance_check WHERE tenant_id = $1",
            &[&app.tenant_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differences, 0);
}
