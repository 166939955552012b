//! Query plans on skewed data: one tenant holding most rows among many small tenants.

use std::time::Duration;

use uuid::Uuid;

use crate::billing_support::{agreement, invoice_body, party_body};
use crate::helpers::{table_statistic, TestApp};

/// Customers, each with a receivable account and a number series, of the one large tenant.
const LARGE_TENANT_ROWS: i64 = 3000;

/// Gives 300 other tenants one customer, one receivable account and one number series each,
/// and the app's tenant `LARGE_TENANT_ROWS` of each, then analyzes the tables.
async fn skew_tenants(app: &TestApp) {
    let (tenant, rows) = (app.tenant_id, LARGE_TENANT_ROWS);
    let sql = format!(
        "INSERT INTO tenants (id, name) \
             SELECT gen_random_uuid(), 'Small ' || n FROM generate_series(1, 300) AS n; \
         INSERT INTO parties (tenant_id, id, role, name, country, time_zone, business) \
             SELECT id, gen_random_uuid(), 'customer', 'Seeded', 'DE', 'UTC', false \
             FROM tenants WHERE id <> '{tenant}'; \
         INSERT INTO parties (tenant_id, id, role, name, country, time_zone, business) \
             SELECT '{tenant}', gen_random_uuid(), 'customer', 'Seeded', 'DE', 'UTC', false \
             FROM generate_series(1, {rows}); \
         INSERT INTO contract_accounts (tenant_id, party_id, currency, purpose, account_code) \
             SELECT tenant_id, id, 'EUR', 'receivable', 'seeded:' || id FROM parties \
             WHERE name = 'Seeded'; \
         INSERT INTO number_series \
             (tenant_id, issuer_id, series, year, last_number, last_issued_at) \
             SELECT tenant_id, id, 'INV', 2026, 1, '2026-01-01T00:00:00Z' FROM parties \
             WHERE name = 'Seeded'; \
         ANALYZE tenants, parties, contract_accounts, number_series;"
    );
    app.sql().await.batch_execute(&sql).await.expect("skewed tenants");
}

/// Makes the service's one connection publish its table statistics. A backend publishes them
/// when a statement ends at least a second after it last did, so this waits a second and then
/// reads a balance.
async fn publish_service_statistics(app: &TestApp) {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.get("/v1/accounts/cash_clearing.EUR/balance", &app.read_key).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

/// POSTs `body` to `path` under a new idempotency key and returns the created id.
async fn create(app: &TestApp, path: &str, body: &serde_json::Value) -> String {
    let key = Uuid::now_v7().to_string();
    let response = app.post(path, &app.write_key, &key, body).await;
    assert_eq!(response.status, 201, "{path}: {}", response.body);
    response.body["id"].as_str().unwrap().to_string()
}

/// Creates the platform, a partner sold for as agent at 15% and a customer, and returns the
/// partner's and the customer's ids.
async fn open_shop(app: &TestApp) -> (String, String) {
    let platform = party_body("platform", "Platform", "IE", true, Some("IE6388047V"));
    create(app, "/v1/parties", &platform).await;
    let mut partner = party_body("partner", "Partner", "IE", true, None);
    partner["agreement"] = agreement("agent", "0.15", "kept");
    let partner = create(app, "/v1/parties", &partner).await;
    let customer = party_body("customer", "C", "DE", false, None);
    let customer = create(app, "/v1/parties", &customer).await;
    (partner, customer)
}

/// Posting an invoice for a tenant that owns most rows of the party tables reads only the rows
/// of its keys, not the tenant's whole share of the index. Write transactions plan each
/// prepared statement once, generically, so every call below runs on the generic plan.
#[tokio::test]
async fn large_tenant_reads_rows_by_key() {
    // The service runs every statement on one connection, whose statistics
    // `publish_service_statistics` can then make visible.
    let app = TestApp::spawn_single_connection().await;
    skew_tenants(&app).await;
    let (partner, customer) = open_shop(&app).await;

    let invoice = |day: u32| {
        let issued_at = format!("2026-03-{day:02}T10:00:00Z");
        invoice_body(&customer, &partner, &issued_at, &["10.00", "20.00"])
    };
    for day in 1..=8 {
        create(&app, "/v1/invoices", &invoice(day)).await;
    }
    publish_service_statistics(&app).await;
    let client = app.sql().await;
    let series_before = table_statistic(&client, "number_series", "idx_tup_fetch").await;
    let accounts_before = table_statistic(&client, "contract_accounts", "idx_tup_fetch").await;
    let parties_before = table_statistic(&client, "parties", "idx_tup_fetch").await;
    drop(client);
    for day in 9..=13 {
        create(&app, "/v1/invoices", &invoice(day)).await;
    }
    publish_service_statistics(&app).await;
    let client = app.sql().await;
    let series = table_statistic(&client, "number_series", "idx_tup_fetch").await - series_before;
    let accounts =
        table_statistic(&client, "contract_accounts", "idx_tup_fetch").await - accounts_before;
    let parties = table_statistic(&client, "parties", "idx_tup_fetch").await - parties_before;

    // Each invoice locks and writes one series and reads three contract accounts. A scan of the
    // tenant's part of an index would fetch its 3,000 rows on every call.
    // At least one row each shows that the service's statistics were published.
    assert!((5..100).contains(&series), "{series} number series fetched for 5 invoices");
    assert!((5..100).contains(&accounts), "{accounts} contract accounts fetched for 5 invoices");
    assert!((5..100).contains(&parties), "{parties} parties fetched for 5 invoices");
}

/// Replaying a batch for a tenant that owns most stored responses reads the response of each
/// key, not the tenant's whole share of the index.
#[tokio::test]
async fn large_tenant_batch_replay_by_key() {
    let app = TestApp::spawn_single_connection().await;
    skew_tenants(&app).await;
    let sql = format!(
        "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             SELECT id, 'seeded', '\\x00', 201, '{{}}' FROM tenants WHERE id <> '{tenant}'; \
         INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
             SELECT '{tenant}', 'seeded-' || n, '\\x00', 201, '{{}}' \
             FROM generate_series(1, {rows}) AS n; \
         ANALYZE idempotency_keys;",
        tenant = app.tenant_id,
        rows = LARGE_TENANT_ROWS,
    );
    app.sql().await.batch_execute(&sql).await.expect("seeded keys");
    let (partner, customer) = open_shop(&app).await;
    let documents: Vec<serde_json::Value> = (1..=5)
        .map(|day| {
            let issued_at = format!("2026-03-{day:02}T10:00:00Z");
            let body = invoice_body(&customer, &partner, &issued_at, &["10.00", "20.00"]);
            let key = format!("batch-{day}");
            serde_json::json!({"type": "invoice", "idempotency_key": key, "body": body})
        })
        .collect();
    let batch = serde_json::json!({ "documents": documents });
    let post_batch = || async {
        let key = Uuid::now_v7().to_string();
        let response = app.post("/v1/batches", &app.write_key, &key, &batch).await;
        assert_eq!(response.status, 200, "{}", response.body);
        response
    };
    post_batch().await;
    publish_service_statistics(&app).await;
    let client = app.sql().await;
    let before = table_statistic(&client, "idempotency_keys", "idx_tup_fetch").await;
    drop(client);
    let replayed = post_batch().await;
    publish_service_statistics(&app).await;
    let client = app.sql().await;
    let fetched = table_statistic(&client, "idempotency_keys", "idx_tup_fetch").await - before;

    let results = replayed.body["results"].as_array().expect("results");
    assert!(results.iter().all(|result| result["replayed"] == true), "{}", replayed.body);
    // Five stored responses are read. A scan of the tenant's part of the index would fetch
    // its 3,000 seeded keys.
    assert!((5..100).contains(&fetched), "{fetched} stored responses fetched for 5 documents");
}

/// An auditor reading the parties of one small tenant reads that tenant's rows through the
/// index, not the whole table with the large tenant's rows in it. The read runs on its generic
/// plan, the one a prepared statement gets once Postgres finds its custom plans no cheaper.
#[tokio::test]
async fn small_tenant_audit_read_uses_the_index() {
    let app = TestApp::spawn_single_connection().await;
    skew_tenants(&app).await;
    let client = app.sql().await;
    client.batch_execute("SET plan_cache_mode = force_generic_plan").await.unwrap();
    let small: Uuid = client
        .query_one("SELECT id FROM tenants WHERE name = 'Small 1'", &[])
        .await
        .expect("small tenant")
        .get(0);
    let scans_before = table_statistic(&client, "parties", "seq_scan").await;
    let rows = client
        .query("SELECT party_id FROM audit.parties WHERE tenant_id = $1", &[&small])
        .await
        .expect("audit read");
    let scans = table_statistic(&client, "parties", "seq_scan").await - scans_before;
    client.batch_execute("RESET plan_cache_mode").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(scans, 0, "audit.parties scanned the whole table for one small tenant");
}

/// A write transaction runs a prepared statement over an array on its generic plan from the
/// first call, and the setting ends with the transaction.
#[tokio::test]
async fn write_transactions_plan_statements_once() {
    let app = TestApp::spawn().await;
    let mut client = app.sql().await;
    let text = "SELECT count(*) FROM unnest($1::int[]) AS n WHERE n > 1";
    let tx = client.transaction().await.expect("transaction");
    subledger::db::use_generic_plans(&tx).await.expect("setting");
    let statement = tx.prepare(text).await.expect("prepare");
    for values in [vec![1, 2, 3], vec![5; 40], vec![]] {
        tx.query_one(&statement, &[&values]).await.expect("query");
    }
    let row = tx
        .query_one(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            &[&text],
        )
        .await
        .expect("prepared statement");
    let (generic, custom): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((generic, custom), (3, 0), "generic and custom plans of three calls");
    tx.commit().await.expect("commit");
    let mode: String = client.query_one("SHOW plan_cache_mode", &[]).await.unwrap().get(0);
    assert_eq!(mode, "auto");
}
