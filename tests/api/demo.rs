//! The demo end to end on the small committed scenario: a fresh database, every document
//! posted over HTTP, the payout run, and the auditor's reports snapshotted.

use std::path::Path;

use subledger::config::Config;
use subledger::db::testing::TestDatabase;
use subledger::demo::{self, DemoOptions, Scale, Scenario};

#[tokio::test]
async fn demo_small_month_balances() {
    subledger::telemetry::init_for_tests();
    // The test database only names the server; the demo recreates its own database there.
    let server = TestDatabase::create().await.expect("test database server");
    let scenario_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(demo::default_scenario_dir(Scale::Small));
    let scenario = Scenario::read(&scenario_dir).expect("small scenario");
    let config = Config {
        database_url: Some(server.url.clone()),
        workers: 2,
        pool_size: 8,
        ..Config::default()
    };
    let options = DemoOptions { scenario: scenario_dir, concurrency: 8, serve: false };

    let outcome = demo::run(config, options).await.expect("demo run");

    let posted = &outcome.posted;
    let skipped: u64 = posted.skipped.values().sum();
    assert_eq!(posted.total() + skipped, demo::drive::document_count(&scenario));
    assert_eq!(posted.documents.get("invoices").copied(), Some(scenario.invoices.len() as u64));
    assert!(outcome.reports.broken_invariants().is_empty(), "{}", outcome.reports.render());
    insta::assert_snapshot!("demo_small_reports", outcome.reports.render());
}
