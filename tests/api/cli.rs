//! The `subledger` command line against a test database.

use subledger::db::testing::TestDatabase;
use subledger::ledger::accounts::{ChartAccount, DEFAULT_CHART_CURRENCIES};
use tokio_postgres::NoTls;

#[tokio::test]
async fn tenants_create_seeds_chart() {
    let database = TestDatabase::create().await.unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_subledger"))
        .args(["tenants", "create", "Acme Marketplace"])
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("write key (shown once): sl_w_"), "{stdout}");
    assert!(stdout.contains("read-only auditor key (shown once): sl_r_"), "{stdout}");

    let (client, connection) = tokio_postgres::connect(&database.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM accounts a JOIN tenants t ON t.id = a.tenant_id \
             WHERE t.name = 'Acme Marketplace'",
            &[],
        )
        .await
        .unwrap();
    let expected = ChartAccount::ALL.len() * DEFAULT_CHART_CURRENCIES.len();
    assert_eq!(row.get::<_, i64>(0), expected as i64);
}
