//! Invoice messages to the tax provider: sent only after the document commits, once, and
//! again by `subledger tax sync` after a failure; US jurisdictions named the same by the
//! provider path and the fallback.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use subledger::config::ProviderOutage;
use subledger::tax::provider::stub::RunningStub;
use subledger::tax::provider::wire::SaleMessageType;
use uuid::Uuid;

use crate::billing_support::dec;
use crate::helpers::TestApp;

fn key() -> String {
    Uuid::now_v7().to_string()
}

async fn app_with_stub(stub: &RunningStub, outage: ProviderOutage) -> TestApp {
    let url = stub.url.clone();
    TestApp::spawn_with(move |config| {
        config.tax_provider_url = Some(url);
        config.tax_provider_connect_timeout = Duration::from_millis(200);
        config.tax_provider_timeout = Duration::from_millis(1000);
        config.tax_provider_outage = outage;
    })
    .await
}

/// A German partner selling through a German platform to a consumer in Seattle: the sale's
/// tax comes from the provider, the commission's from local rates.
struct UsSale {
    app: TestApp,
    partner: String,
    customer: String,
}

impl UsSale {
    async fn open(stub: &RunningStub, outage: ProviderOutage, selling_role: &str) -> UsSale {
        let app = app_with_stub(stub, outage).await;
        let key = app.write_key.clone();
        let (partner, customer) = open_parties(&app, &key, selling_role).await;
        UsSale { app, partner, customer }
    }

    fn invoice(&self, issued_at: &str) -> Value {
        json!({
            "customer_id": self.customer, "seller_id": self.partner, "currency": "USD",
            "issued_at": issued_at,
            "lines": [{ "product": "app", "tax_code": "saas", "quantity": "1",
                        "unit_price": "100.00" }],
        })
    }

    async fn outbox(&self) -> Vec<(String, String, i32, Option<String>)> {
        let rows = self
            .app
            .sql()
            .await
            .query(
                "SELECT document_number, status, attempts, last_error FROM tax_provider_outbox \
                 WHERE tenant_id = $1 ORDER BY created_at, id",
                &[&self.app.tenant_id],
            )
            .await
            .unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3))).collect()
    }
}

async fn create(app: &TestApp, path: &str, body: &Value) -> Value {
    create_as(app, &app.write_key, path, body).await
}

async fn create_as(app: &TestApp, write_key: &str, path: &str, body: &Value) -> Value {
    let response = app.post(path, write_key, &key(), body).await;
    assert_eq!(response.status, 201, "{path}: {}", response.body);
    response.body
}

/// Creates, in the tenant of `write_key`, a German platform, a German partner selling in USD
/// and a consumer in Seattle, and returns the ids of the partner and the consumer.
async fn open_parties(app: &TestApp, write_key: &str, selling_role: &str) -> (String, String) {
    let german = json!({ "country": "DE", "time_zone": "Europe/Berlin" });
    let seattle = json!({ "country": "US", "subdivision": "WA", "postal_code": "98101",
                          "time_zone": "America/Los_Angeles" });
    let platform = json!({ "role": "platform", "name": "Platform", "business": true,
                           "vat_id": "DE136695976", "domicile": german });
    create_as(app, write_key, "/v1/parties", &platform).await;
    let partner = json!({
        "role": "partner", "name": "Partner", "business": true, "domicile": german,
        "agreement": {
            "selling_role": selling_role, "currencies": ["USD"],
            "commission_tiers": [{ "up_to": null, "rate": "0.10" }],
            "commission_on_refund": "refunded", "payout_delay_days": 0,
        },
    });
    let partner = create_as(app, write_key, "/v1/parties", &partner).await;
    let customer = json!({ "role": "customer", "name": "Customer", "business": false,
                           "domicile": seattle });
    let customer = create_as(app, write_key, "/v1/parties", &customer).await;
    let id = |party: &Value| party["id"].as_str().unwrap().to_string();
    (id(&partner), id(&customer))
}

async fn quotations(stub: &RunningStub) -> usize {
    let messages = stub.messages().await.unwrap();
    messages.iter().filter(|m| m.sale_message_type == SaleMessageType::Quotation).count()
}

#[tokio::test]
async fn committed_invoice_is_recorded_once() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;

    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    let number = invoice["number"].as_str().unwrap().to_string();

    assert_eq!(stub.recorded_invoices().await.unwrap(), vec![number.clone()]);
    assert_eq!(quotations(&stub).await, 1);
    assert_eq!(sale.outbox().await, vec![(number, "sent".to_string(), 1, None)]);
}

#[tokio::test]
async fn rejected_invoices_leave_no_invoice_message() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    let first = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;

    // Both are rejected after their tax was determined: one is dated before the last number
    // of its series, the other falls in a closed month.
    let earlier = sale
        .app
        .post("/v1/invoices", &sale.app.write_key, &key(), &sale.invoice("2026-10-01T10:00:00Z"))
        .await;
    assert_eq!(earlier.status, 422, "{}", earlier.body);
    assert_eq!(earlier.body["code"], "issued_before_series_last");
    let close =
        sale.app.post("/v1/periods/2026-11/close", &sale.app.write_key, &key(), &json!({})).await;
    assert_eq!(close.status, 200, "{}", close.body);
    let closed = sale
        .app
        .post("/v1/invoices", &sale.app.write_key, &key(), &sale.invoice("2026-11-10T10:00:00Z"))
        .await;
    assert_eq!(closed.status, 422, "{}", closed.body);
    assert_eq!(closed.body["code"], "period_closed");

    assert_eq!(quotations(&stub).await, 3);
    let first_number = first["number"].as_str().unwrap().to_string();
    assert_eq!(stub.recorded_invoices().await.unwrap(), vec![first_number]);
    assert_eq!(sale.outbox().await.len(), 1);
}

#[tokio::test]
async fn concurrent_retries_record_once() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    let body = sale.invoice("2026-10-05T10:00:00Z");
    let idempotency_key = key();

    let requests = (0..10)
        .map(|_| sale.app.post("/v1/invoices", &sale.app.write_key, &idempotency_key, &body));
    let responses = futures::future::join_all(requests).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
        assert_eq!(response.body["id"], responses[0].body["id"]);
    }

    let number = responses[0].body["number"].as_str().unwrap().to_string();
    assert_eq!(stub.recorded_invoices().await.unwrap(), vec![number]);
    assert_eq!(sale.outbox().await.len(), 1);
}

#[tokio::test]
async fn failed_send_stays_pending_until_sync() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    stub.set_fault_on("error", SaleMessageType::Invoice).await.unwrap();

    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    let number = invoice["number"].as_str().unwrap().to_string();
    assert!(stub.recorded_invoices().await.unwrap().is_empty());
    let pending = sale.outbox().await;
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].1.as_str(), pending[0].2), ("pending", 1));
    assert!(pending[0].3.as_deref().unwrap_or_default().contains("HTTP 500"), "{pending:?}");
    let metrics = reqwest::get(format!("{}/metrics", sale.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_tax_provider_outbox_pending 1"), "{metrics}");

    // Still down: the sync fails, exits non-zero and keeps the message pending.
    let failed = tax_sync(&sale.app, &stub).await;
    assert!(!failed.status.success());
    assert_eq!(sale.outbox().await[0].2, 2);

    stub.set_fault("none", 0, None).await.unwrap();
    let synced = tax_sync(&sale.app, &stub).await;
    let stdout = String::from_utf8_lossy(&synced.stdout);
    assert!(synced.status.success(), "{stdout}{}", String::from_utf8_lossy(&synced.stderr));
    assert!(stdout.contains("1 sent"), "{stdout}");
    let again = tax_sync(&sale.app, &stub).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 sent"));

    assert_eq!(stub.recorded_invoices().await.unwrap(), vec![number.clone()]);
    assert_eq!(sale.outbox().await, vec![(number, "sent".to_string(), 3, None)]);
}

/// A 401 or a 429 while recording an invoice is the provider turning the service away, not
/// a verdict on the invoice, so the message stays pending and is sent once the provider
/// accepts calls again.
#[tokio::test]
async fn refused_send_stays_pending() {
    // A 401 is sent once, and a 429 without a long Retry-After is tried three times.
    for (fault, status, calls) in [("unauthorized", 401, 1), ("throttle", 429, 3)] {
        let stub = RunningStub::start().unwrap();
        let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
        stub.set_fault_on(fault, SaleMessageType::Invoice).await.unwrap();

        let invoice =
            create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
        let number = invoice["number"].as_str().unwrap().to_string();
        let pending = sale.outbox().await;
        assert_eq!(pending.len(), 1, "{fault}");
        assert_eq!(pending[0].1, "pending", "{fault}: {pending:?}");
        let error = pending[0].3.as_deref().unwrap_or_default();
        assert!(error.contains(&format!("HTTP {status}")), "{fault}: {error}");
        if status == 401 {
            // The outbox keeps the provider's body, which API clients never see.
            assert!(error.contains("injected invalid credentials"), "{error}");
        }
        assert_eq!(invoice_calls(&stub, status).await, calls, "{fault}");

        stub.set_fault("none", 0, None).await.unwrap();
        let synced = tax_sync(&sale.app, &stub).await;
        let stdout = String::from_utf8_lossy(&synced.stdout);
        assert!(synced.status.success(), "{fault}: {stdout}");
        assert_eq!(stub.recorded_invoices().await.unwrap(), vec![number], "{fault}");
        assert_eq!(sale.outbox().await[0].1, "sent", "{fault}");
    }
}

/// Counts the `INVOICE` messages that the stub responded to with `status`.
async fn invoice_calls(stub: &RunningStub, status: u16) -> usize {
    let messages = stub.messages().await.unwrap();
    messages
        .iter()
        .filter(|m| m.sale_message_type == SaleMessageType::Invoice && m.status == status)
        .count()
}

/// A provider that turns the service away ends a sync pass, leaving the later messages
/// pending and untried, so it is not called once per pending message. A failure of one
/// message (a 500) does not stop the others.
#[tokio::test]
async fn sync_stops_when_provider_refuses() {
    // Fault, its status, calls per send, and the sync's report and attempts per message.
    let cases = [
        ("unauthorized", 401, 1, "1 failed, 0 rejected, 0 waiting, 1 not tried", [1, 2]),
        ("error", 500, 3, "2 failed, 0 rejected, 0 waiting, 0 not tried", [2, 2]),
    ];
    for (fault, status, calls, report, attempts) in cases {
        let stub = RunningStub::start().unwrap();
        let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
        stub.set_fault_on(fault, SaleMessageType::Invoice).await.unwrap();
        create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
        create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-06T10:00:00Z")).await;
        // Each request sent its own message once.
        assert_eq!(invoice_calls(&stub, status).await, 2 * calls, "{fault}");

        let failed = tax_sync(&sale.app, &stub).await;
        let stdout = String::from_utf8_lossy(&failed.stdout);
        assert!(!failed.status.success(), "{fault}: {stdout}");
        assert!(stdout.contains(report), "{fault}: {stdout}");
        let mut tried: Vec<i32> = sale.outbox().await.iter().map(|row| row.2).collect();
        tried.sort();
        assert_eq!(tried, attempts, "{fault}");

        stub.set_fault("none", 0, None).await.unwrap();
        let synced = tax_sync(&sale.app, &stub).await;
        let stdout = String::from_utf8_lossy(&synced.stdout);
        assert!(synced.status.success(), "{fault}: {stdout}");
        assert!(stdout.contains("2 sent"), "{fault}: {stdout}");
    }
}

/// Without `--tenant`, a sync sends the messages of every tenant in the order of their ids.
/// A provider that turns the service away leaves the later tenants' messages untried. With
/// `--tenant`, a sync sends that tenant's messages only.
#[tokio::test]
async fn sync_covers_every_tenant() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    let (other_id, other_key) = sale.app.other_tenant("Other platform").await;
    let (partner, customer) = open_parties(&sale.app, &other_key, "agent").await;
    let mut other_invoice = sale.invoice("2026-10-05T10:00:00Z");
    other_invoice["seller_id"] = json!(partner);
    other_invoice["customer_id"] = json!(customer);
    stub.set_fault_on("error", SaleMessageType::Invoice).await.unwrap();
    create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    create_as(&sale.app, &other_key, "/v1/invoices", &other_invoice).await;
    let (first, second) = if sale.app.tenant_id < other_id {
        (sale.app.tenant_id, other_id)
    } else {
        (other_id, sale.app.tenant_id)
    };
    let pending = |attempts_first: i32, attempts_second: i32| {
        vec![
            (first, "pending".to_string(), attempts_first),
            (second, "pending".to_string(), attempts_second),
        ]
    };
    assert_eq!(outbox_by_tenant(&sale.app).await, pending(1, 1));

    stub.set_fault_on("unauthorized", SaleMessageType::Invoice).await.unwrap();
    let turned_away = tax_sync(&sale.app, &stub).await;
    let stdout = String::from_utf8_lossy(&turned_away.stdout);
    assert!(!turned_away.status.success(), "{stdout}");
    assert!(stdout.contains("1 failed, 0 rejected, 0 waiting, 1 not tried"), "{stdout}");
    assert_eq!(outbox_by_tenant(&sale.app).await, pending(2, 1));

    stub.set_fault("none", 0, None).await.unwrap();
    let second_only = second.to_string();
    let synced = tax_sync_with(&sale.app, &stub, &["--tenant", &second_only]).await;
    let stdout = String::from_utf8_lossy(&synced.stdout);
    assert!(synced.status.success(), "{stdout}");
    assert!(stdout.contains("1 sent"), "{stdout}");
    let statuses = outbox_by_tenant(&sale.app).await;
    assert_eq!(statuses[0], (first, "pending".to_string(), 2));
    assert_eq!(statuses[1], (second, "sent".to_string(), 2));

    let synced = tax_sync(&sale.app, &stub).await;
    let stdout = String::from_utf8_lossy(&synced.stdout);
    assert!(synced.status.success(), "{stdout}");
    assert!(stdout.contains("1 sent"), "{stdout}");
    assert_eq!(outbox_by_tenant(&sale.app).await[0], (first, "sent".to_string(), 3));
    assert_eq!(stub.recorded_invoices().await.unwrap().len(), 2);
}

/// Reads the tenant, status and attempts of every outbox message, ordered by tenant id.
async fn outbox_by_tenant(app: &TestApp) -> Vec<(Uuid, String, i32)> {
    let rows = app
        .sql()
        .await
        .query(
            "SELECT tenant_id, status, attempts FROM tax_provider_outbox ORDER BY tenant_id",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect()
}

async fn tax_sync(app: &TestApp, stub: &RunningStub) -> std::process::Output {
    tax_sync_with(app, stub, &[]).await
}

async fn tax_sync_with(app: &TestApp, stub: &RunningStub, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_subledger"))
        .args(["tax", "sync"])
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("SUBLEDGER_TAX_PROVIDER_URL", &stub.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn next_successful_send_syncs_backlog() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    stub.set_fault_on("error", SaleMessageType::Invoice).await.unwrap();
    let first = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    stub.set_fault("none", 0, None).await.unwrap();

    let second = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-06T10:00:00Z")).await;

    // The backlog goes out in the background after the second invoice's message succeeds.
    let mut recorded = Vec::new();
    for _ in 0..100 {
        recorded = stub.recorded_invoices().await.unwrap();
        if recorded.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    recorded.sort();
    let mut expected = vec![first["number"].as_str().unwrap(), second["number"].as_str().unwrap()];
    expected.sort();
    assert_eq!(recorded, expected);
}

#[tokio::test]
async fn credit_note_is_recorded_after_its_invoice() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    let credit = json!({
        "invoice_id": invoice["id"], "issued_at": "2026-10-08T10:00:00Z",
        "lines": [{ "line_no": 1, "amount": "40.00" }],
    });

    let note = create(&sale.app, "/v1/credit-notes", &credit).await;

    let expected = vec![invoice["number"].as_str().unwrap(), note["number"].as_str().unwrap()];
    assert_eq!(stub.recorded_invoices().await.unwrap(), expected);
    let row = sale
        .app
        .sql()
        .await
        .query_one(
            "SELECT request, after_id IS NOT NULL FROM tax_provider_outbox \
             WHERE tenant_id = $1 AND document_kind = 'credit_note'",
            &[&sale.app.tenant_id],
        )
        .await
        .unwrap();
    let request: Value = row.get(0);
    assert_eq!(request["saleMessageType"], "INVOICE");
    assert_eq!(request["lineItems"][0]["extendedPrice"], "-40.00");
    assert_eq!(request["documentDate"], "2026-10-08");
    assert!(row.get::<_, bool>(1));
}

#[tokio::test]
async fn credit_waits_for_pending_invoice_message() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    stub.set_fault_on("error", SaleMessageType::Invoice).await.unwrap();
    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    stub.set_fault("none", 0, None).await.unwrap();

    let credit = json!({ "invoice_id": invoice["id"], "issued_at": "2026-10-08T10:00:00Z" });
    let note = create(&sale.app, "/v1/credit-notes", &credit).await;
    assert!(stub.recorded_invoices().await.unwrap().is_empty());

    let synced = tax_sync(&sale.app, &stub).await;
    assert!(synced.status.success(), "{}", String::from_utf8_lossy(&synced.stderr));
    let expected = vec![invoice["number"].as_str().unwrap(), note["number"].as_str().unwrap()];
    assert_eq!(stub.recorded_invoices().await.unwrap(), expected);
}

/// The credit of an invoice whose message the provider rejected would credit a sale the
/// provider never recorded, so it is rejected without being sent instead of waiting forever.
#[tokio::test]
async fn credit_of_rejected_invoice_is_not_sent() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    stub.set_fault_on("error", SaleMessageType::Invoice).await.unwrap();
    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    let credit = json!({ "invoice_id": invoice["id"], "issued_at": "2026-10-08T10:00:00Z" });
    let note = create(&sale.app, "/v1/credit-notes", &credit).await;

    stub.set_fault_on("reject", SaleMessageType::Invoice).await.unwrap();
    let synced = tax_sync(&sale.app, &stub).await;
    assert!(synced.status.success(), "{}", String::from_utf8_lossy(&synced.stderr));

    let outbox = sale.outbox().await;
    let statuses: Vec<&str> = outbox.iter().map(|(_, status, _, _)| status.as_str()).collect();
    assert_eq!(statuses, ["rejected", "rejected"], "{outbox:?}");
    assert_eq!(outbox[1].0, note["number"].as_str().unwrap());
    assert_eq!(outbox[1].2, 0, "{outbox:?}");
    let error = outbox[1].3.as_deref().unwrap_or_default();
    assert!(error.contains(invoice["number"].as_str().unwrap()), "{error}");
    let messages = stub.messages().await.unwrap();
    let note_number = note["number"].as_str();
    assert!(messages.iter().all(|m| m.document_number.as_deref() != note_number), "{messages:?}");
}

#[tokio::test]
async fn fallback_invoice_sends_no_invoice_message() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::FallbackRates, "agent").await;
    stub.set_fault("error", 0, None).await.unwrap();

    let invoice = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;

    assert_eq!(invoice["tax_estimated"], true, "{invoice}");
    stub.set_fault("none", 0, None).await.unwrap();
    assert!(stub.recorded_invoices().await.unwrap().is_empty());
    assert!(sale.outbox().await.is_empty());
}

#[tokio::test]
async fn reject_policy_posts_nothing_when_down() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::Reject, "agent").await;
    stub.set_fault("error", 0, None).await.unwrap();

    let response = sale
        .app
        .post("/v1/invoices", &sale.app.write_key, &key(), &sale.invoice("2026-10-05T10:00:00Z"))
        .await;

    assert_eq!(response.status, 503, "{}", response.body);
    assert!(sale.outbox().await.is_empty());
    let invoices: i64 = sale
        .app
        .sql()
        .await
        .query_one("SELECT count(*) FROM invoices WHERE tenant_id = $1", &[&sale.app.tenant_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(invoices, 0);
}

/// The platform supplies the sale, so it owes the tax: Washington's state tax lands in one
/// account whether the provider or the fallback determined it.
#[tokio::test]
async fn state_tax_account_is_same_with_fallback() {
    let stub = RunningStub::start().unwrap();
    let sale = UsSale::open(&stub, ProviderOutage::FallbackRates, "supplier").await;

    let exact = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-05T10:00:00Z")).await;
    stub.set_fault("error", 0, None).await.unwrap();
    let estimated = create(&sale.app, "/v1/invoices", &sale.invoice("2026-10-06T10:00:00Z")).await;
    stub.set_fault("none", 0, None).await.unwrap();

    let state_tax = |invoice: &Value| {
        let taxes = invoice["taxes"].as_array().unwrap();
        let state = taxes.iter().find(|tax| tax["jurisdiction"] == "US-WA");
        state.map(|tax| (tax["amount"].clone(), tax["liable"].clone()))
    };
    assert_eq!(state_tax(&exact), Some((json!("6.50"), json!("platform"))), "{exact}");
    assert_eq!(state_tax(&estimated), Some((json!("6.50"), json!("platform"))), "{estimated}");
    let jurisdictions: Vec<&str> = exact["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["jurisdiction"].as_str())
        .collect();
    assert!(jurisdictions.contains(&"US-WA:CITY:53-1726"), "{jurisdictions:?}");
    assert!(jurisdictions.contains(&"US-WA:DISTRICT:53-RTA"), "{jurisdictions:?}");

    let client = sale.app.sql().await;
    let balance = |code: &'static str| {
        let client = &client;
        let tenant_id = sale.app.tenant_id;
        async move {
            let row = client
                .query_opt(
                    "SELECT balance FROM audit.account_balances \
                     WHERE tenant_id = $1 AND account_code = $2",
                    &[&tenant_id, &code],
                )
                .await
                .unwrap();
            row.map(|row| row.get::<_, Decimal>(0))
        }
    };
    assert_eq!(balance("tax_payable:US-WA.USD").await, Some(dec("-13.00")));
    let stray: i64 = client
        .query_one(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1 AND code LIKE 'tax_payable:US:%'",
            &[&sale.app.tenant_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stray, 0);
}
