//! `POST /v1/tax/quotes`, the provider path against the stub with its faults, and the stored
//! audit trail.

use std::time::Duration;

use rust_decimal_macros::dec;
use serde_json::{json, Value};
use subledger::config::ProviderOutage;
use subledger::tax::provider::stub::RunningStub;
use subledger::tax::{self, CreditLine, Determination, TaxInput};
use uuid::Uuid;

use crate::helpers::TestApp;

fn eu_quote() -> Value {
    json!({
        "seller": { "domicile": { "country": "DE" }, "kind": "business", "tax_id": "DE136695976" },
        "buyer": { "domicile": { "country": "FR" }, "kind": "consumer" },
        "platform_role": "none",
        "product": "saas",
        "currency": "EUR",
        "lines": [{ "amount": "100.00" }, { "amount": "45.50", "quantity": "2" }],
        "tax_point": "2025-03-10T12:00:00Z"
    })
}

fn us_quote(
    seller_postal: &str,
    seller_state: &str,
    buyer_postal: &str,
    buyer_state: &str,
) -> Value {
    json!({
        "seller": {
            "domicile": { "country": "US", "subdivision": seller_state, "postal_code": seller_postal },
            "kind": "business"
        },
        "buyer": {
            "domicile": {
                "country": "US", "subdivision": buyer_state, "postal_code": buyer_postal,
                "time_zone": "America/Chicago"
            },
            "kind": "consumer"
        },
        "platform_role": "none",
        "product": "saas",
        "currency": "USD",
        "lines": [{ "amount": "100.00" }],
        "tax_point": "2025-06-01T12:00:00Z"
    })
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

/// Reads `subledger_tax_provider_outages_total` for `outcome` from the service's metrics.
async fn outages(app: &TestApp, outcome: &str) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.unwrap();
    let text = metrics.text().await.unwrap();
    let series = format!("subledger_tax_provider_outages_total{{outcome=\"{outcome}\"}} ");
    let line = text.lines().find(|line| line.starts_with(&series));
    let value = line.unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    value[series.len()..].parse().unwrap()
}

fn key() -> String {
    Uuid::new_v4().to_string()
}

#[tokio::test]
async fn quote_returns_destination_vat() {
    let app = TestApp::spawn().await;
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &eu_quote()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.body["rule"], "eu.b2c.electronic_services.destination");
    assert_eq!(response.body["tax_total"], "29.10");
    assert_eq!(response.body["taxes"][0]["jurisdiction"], "FR");
    insta::assert_json_snapshot!("quote_eu_b2c", response.body);
}

#[tokio::test]
async fn quote_replays_under_same_key() {
    let app = TestApp::spawn().await;
    let idempotency_key = key();
    let first = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &eu_quote()).await;
    let second = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &eu_quote()).await;
    assert_eq!(first.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(
        second.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let mut other = eu_quote();
    other["lines"][0]["amount"] = json!("101.00");
    let conflict = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &other).await;
    assert_eq!(conflict.status, 409);
}

#[tokio::test]
async fn quote_rejects_bad_input_by_field() {
    let app = TestApp::spawn().await;
    // (JSON pointer, value set there, expected code, expected field)
    let cases = [
        ("/buyer/domicile/country", json!("XX"), "unknown_jurisdiction", "buyer.domicile.country"),
        (
            "/buyer",
            json!({ "domicile": { "country": "FR" }, "kind": "business", "tax_id": "FR12" }),
            "invalid_tax_id",
            "buyer.tax_id",
        ),
        (
            "/buyer/domicile",
            json!({ "country": "CA", "subdivision": "XX" }),
            "unknown_jurisdiction",
            "buyer.domicile.subdivision",
        ),
        ("/lines/0/amount", json!(100.0), "invalid_field", "lines[0].amount"),
        ("/lines/1/quantity", json!(2), "invalid_field", "lines[1].quantity"),
        ("/lines/0/amount", json!("100.001"), "currency_precision_exceeded", "lines[0].amount"),
        ("/tax_point", json!("2019-06-01T12:00:00Z"), "tax_rate_not_found", "tax_point"),
        ("/product", json!("gift_card"), "invalid_field", "product"),
        (
            "/lines/0/amount",
            json!("79228162514264337593543950335"),
            "amount_out_of_range",
            "lines[0].amount",
        ),
        ("/lines/1/amount", json!("1000000000000000.00"), "amount_out_of_range", "lines[1].amount"),
    ];
    for (pointer, value, code, field) in cases {
        let mut body = eu_quote();
        *body.pointer_mut(pointer).unwrap() = value;
        let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
        assert_eq!(response.status, 422, "{pointer}: {}", response.body);
        assert_eq!(response.body["code"], code, "{pointer}");
        assert_eq!(response.body["field"], field, "{pointer}");
    }
    let read_only = app.post("/v1/tax/quotes", &app.read_key, &key(), &eu_quote()).await;
    assert_eq!(read_only.status, 403);
}

#[tokio::test]
async fn provider_taxes_texas_saas_at_80_percent() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::Reject).await;
    let body = us_quote("10001", "NY", "78701", "TX");
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let levels: Vec<&str> = response.body["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["state", "city", "special_district"]);
    assert_eq!(response.body["taxes"][0]["taxable"], "80.00");
    assert_eq!(response.body["taxes"][0]["amount"], "5.00");
    assert_eq!(response.body["tax_total"], "6.60");
    assert_eq!(response.body["rule"], "us.sales_tax.provider");
    assert_eq!(response.body["taxes"][0]["rule"], "us.sales_tax.destination");
    assert_eq!(response.body["source"], "provider");
    assert!(response.body["provider_response"]["data"]["lineItems"].is_array());
}

#[tokio::test]
async fn provider_cases_by_state() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::Reject).await;
    // (seller postal, seller state, buyer postal, buyer state, tax total, first line rule)
    let cases = [
        ("77002", "TX", "78701", "TX", "6.60", "us.sales_tax.origin"),
        ("10001", "NY", "97204", "OR", "0.00", "us.sales_tax.nontaxable"),
        ("10001", "NY", "94103", "CA", "0.00", "us.sales_tax.nontaxable"),
        ("10001", "NY", "98101", "WA", "10.35", "us.sales_tax.destination"),
        ("78701", "TX", "10001", "NY", "8.88", "us.sales_tax.destination"),
        ("78701", "TX", "19103", "PA", "8.00", "us.sales_tax.destination"),
    ];
    for (seller_postal, seller_state, buyer_postal, buyer_state, total, rule) in cases {
        let body = us_quote(seller_postal, seller_state, buyer_postal, buyer_state);
        let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
        assert_eq!(response.status, 200, "{buyer_postal}: {}", response.body);
        assert_eq!(response.body["tax_total"], total, "{buyer_postal}");
        assert_eq!(response.body["taxes"][0]["rule"], rule, "{buyer_postal}");
    }
    // Houston's own city and transit lines apply to a Houston seller's sale to Austin.
    let origin = us_quote("77002", "TX", "78701", "TX");
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &origin).await;
    assert_eq!(response.body["taxes"][1]["jurisdiction_name"], "HOUSTON");
    // Seattle carries the Sound Transit special district.
    let seattle = us_quote("10001", "NY", "98101", "WA");
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &seattle).await;
    assert_eq!(response.body["taxes"][2]["level"], "special_district");
    assert_eq!(response.body["taxes"][2]["rate"], "1.4");
}

#[tokio::test]
async fn provider_rejection_is_not_retried() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::FallbackRates).await;
    let body = us_quote("10001", "NY", "99999", "TX");
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert_eq!(response.body["code"], "tax_provider_rejected");
    assert_eq!(stub.requests().await.unwrap(), 1);
}

#[tokio::test]
async fn provider_error_is_retried_then_succeeds() {
    for fault in ["error", "throttle"] {
        let stub = RunningStub::start().unwrap();
        let app = app_with_stub(&stub, ProviderOutage::Reject).await;
        stub.set_fault(fault, 0, Some(2)).await.unwrap();
        let body = us_quote("10001", "NY", "78701", "TX");
        let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
        assert_eq!(response.status, 200, "{fault}: {}", response.body);
        assert_eq!(stub.requests().await.unwrap(), 3, "{fault}");
    }
}

/// A 429 whose `Retry-After` fits in a call is waited for before the next attempt.
#[tokio::test]
async fn provider_waits_for_short_retry_after() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::Reject).await;
    stub.set_fault("throttle", 1000, Some(1)).await.unwrap();
    let body = us_quote("10001", "NY", "78701", "TX");
    let started = std::time::Instant::now();
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(stub.requests().await.unwrap(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
}

/// A 401 is not about the sale: the call is not repeated at once, the outage policy
/// applies, and nothing is stored, so the same key succeeds once the credentials work.
#[tokio::test]
async fn provider_refusal_is_an_outage() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::Reject).await;
    stub.set_fault("unauthorized", 0, None).await.unwrap();
    let body = us_quote("10001", "NY", "78701", "TX");
    let idempotency_key = key();
    let refused = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &body).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["code"], "tax_provider_unavailable");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("HTTP 401"), "{detail}");
    assert!(!detail.contains("injected invalid credentials"), "provider body leaked: {detail}");
    assert_eq!(stub.requests().await.unwrap(), 1);
    assert_eq!(outages(&app, "unavailable").await, 1);
    assert_eq!(outages(&app, "fallback").await, 0);

    stub.set_fault("none", 0, None).await.unwrap();
    let retried = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &body).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["source"], "provider");
}

/// Runs each fault under each outage policy. Reject returns 503 and stores nothing, so the
/// same key succeeds once the provider is back. Fallback returns an estimate flagged as such.
#[tokio::test]
async fn provider_faults_follow_the_outage_policy() {
    // Each fault with the provider calls that one quote makes. A timeout or a 5xx is tried
    // three times. A malformed body or a refusal is tried once, and so is a 429 whose
    // `Retry-After` (5 s) is longer than a call waits.
    let faults =
        [("slow", 3), ("error", 3), ("malformed", 1), ("throttle", 1), ("unauthorized", 1)];
    for (fault, calls) in faults {
        let stub = RunningStub::start().unwrap();
        let app = app_with_stub(&stub, ProviderOutage::Reject).await;
        stub.set_fault(fault, 5000, None).await.unwrap();
        let body = us_quote("10001", "NY", "98101", "WA");
        let idempotency_key = key();
        let rejected = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &body).await;
        assert_eq!(rejected.status, 503, "{fault}: {}", rejected.body);
        assert_eq!(rejected.body["code"], "tax_provider_unavailable", "{fault}");
        assert_eq!(stub.requests().await.unwrap(), calls, "{fault}");
        let stored: i64 = app
            .sql()
            .await
            .query_one("SELECT count(*) FROM idempotency_keys WHERE key = $1", &[&idempotency_key])
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, 0, "{fault}");
        stub.set_fault("none", 0, None).await.unwrap();
        let retried = app.post("/v1/tax/quotes", &app.write_key, &idempotency_key, &body).await;
        assert_eq!(retried.status, 200, "{fault}: {}", retried.body);
        assert_eq!(retried.body["tax_estimated"], false, "{fault}");

        let app = app_with_stub(&stub, ProviderOutage::FallbackRates).await;
        stub.set_fault(fault, 5000, None).await.unwrap();
        let estimated = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
        assert_eq!(estimated.status, 200, "{fault}: {}", estimated.body);
        assert_eq!(estimated.body["tax_estimated"], true, "{fault}");
        assert_eq!(estimated.body["source"], "fallback", "{fault}");
        assert_eq!(estimated.body["tax_total"], "6.50", "{fault}");
        assert_eq!(outages(&app, "fallback").await, 1, "{fault}");
        assert_eq!(outages(&app, "unavailable").await, 0, "{fault}");
        stub.set_fault("none", 0, None).await.unwrap();
    }
}

#[tokio::test]
async fn no_provider_configured_rejects_us_sales() {
    let app = TestApp::spawn().await;
    let body = us_quote("10001", "NY", "78701", "TX");
    let response = app.post("/v1/tax/quotes", &app.write_key, &key(), &body).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.body["code"], "tax_provider_unavailable");
}

#[tokio::test]
async fn stored_determination_reads_back_and_credits() {
    let app = TestApp::spawn().await;
    let input: TaxInput = serde_json::from_value(eu_quote()).unwrap();
    let rates = {
        let client = app.sql().await;
        tax::load_rate_book(&client).await.unwrap()
    };
    let determination = tax::determine(&rates, &input).unwrap();
    let document_id = Uuid::new_v4();
    let mut client = app.sql().await;
    let tx = client.transaction().await.unwrap();
    tax::store_determination(&tx, app.tenant_id, "invoice", document_id, &determination)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let stored: Determination =
        tax::load_determination(&client, app.tenant_id, "invoice", document_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored, determination);
    let row = client
        .query_one(
            "SELECT jurisdiction_code, rate, amount, rule_id, rate_source FROM audit.tax_lines \
             WHERE tenant_id = $1 AND document_id = $2",
            &[&app.tenant_id, &document_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "FR");
    assert_eq!(row.get::<_, rust_decimal::Decimal>(1), dec!(20));
    assert_eq!(row.get::<_, rust_decimal::Decimal>(2), dec!(29.10));
    assert_eq!(row.get::<_, String>(3), "eu.b2c.electronic_services.destination");
    assert!(row.get::<_, String>(4).contains("TEDB"));

    let credited =
        tax::credit(&stored, &[], &[CreditLine { line: 1, amount: dec!(45.50) }]).unwrap();
    assert_eq!(credited.tax_total, stored.lines[1].tax);

    let duplicate =
        tax::store_determination(&client, app.tenant_id, "invoice", document_id, &determination)
            .await;
    assert!(duplicate.is_err());
}

#[tokio::test]
async fn rates_fixtures_load_idempotently() {
    let app = TestApp::spawn().await;
    let before = count_rates(&app).await;
    subledger::db::migrate(&app.db.url).await.unwrap();
    let after = count_rates(&app).await;
    assert_eq!(before, after);
    assert!(before >= 50);
    let missing_source: i64 = app
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM tax_rates WHERE source = '' OR source_read_on IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(missing_source, 0);
}

async fn count_rates(app: &TestApp) -> i64 {
    let row = app.sql().await.query_one("SELECT count(*) FROM tax_rates", &[]).await.unwrap();
    row.get(0)
}

#[tokio::test]
async fn quote_rejects_malformed_json() {
    let app = TestApp::spawn().await;
    let response = app.post_raw("/v1/tax/quotes", &app.write_key, &key(), "{\"seller\": ").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["code"], "malformed_json");
}

#[tokio::test]
async fn determinations_stay_in_their_tenant() {
    let app = TestApp::spawn().await;
    let (other_tenant, _) = app.other_tenant("Other tenant").await;
    let input: TaxInput = serde_json::from_value(eu_quote()).unwrap();
    let client = app.sql().await;
    let rates = tax::load_rate_book(&client).await.unwrap();
    let determination = tax::determine(&rates, &input).unwrap();
    let document_id = Uuid::new_v4();
    tax::store_determination(&client, app.tenant_id, "invoice", document_id, &determination)
        .await
        .unwrap();
    let seen =
        tax::load_determination(&client, other_tenant, "invoice", document_id).await.unwrap();
    assert!(seen.is_none());
}

#[tokio::test]
async fn auditor_reads_tax_lines_only_through_views() {
    let app = TestApp::spawn().await;
    let input: TaxInput = serde_json::from_value(eu_quote()).unwrap();
    let client = app.sql().await;
    let rates = tax::load_rate_book(&client).await.unwrap();
    let determination = tax::determine(&rates, &input).unwrap();
    tax::store_determination(&client, app.tenant_id, "invoice", Uuid::new_v4(), &determination)
        .await
        .unwrap();

    client.batch_execute("SET ROLE subledger_auditor").await.unwrap();
    let lines: i64 =
        client.query_one("SELECT count(*) FROM audit.tax_lines", &[]).await.unwrap().get(0);
    assert_eq!(lines, 1);
    let rates: i64 =
        client.query_one("SELECT count(*) FROM audit.tax_rates", &[]).await.unwrap().get(0);
    assert!(rates >= 50);
    let direct = client.query_one("SELECT count(*) FROM tax_determinations", &[]).await;
    assert!(direct.is_err());
    client.batch_execute("RESET ROLE").await.unwrap();
}

#[tokio::test]
async fn app_role_cannot_rewrite_tax_lines() {
    let app = TestApp::spawn().await;
    let client = app.sql().await;
    client.batch_execute("SET ROLE subledger_app").await.unwrap();
    let update = client.execute("UPDATE tax_determination_lines SET amount = 0", &[]).await;
    assert!(update.is_err());
    let delete = client.execute("DELETE FROM tax_determinations", &[]).await;
    assert!(delete.is_err());
    client.batch_execute("RESET ROLE").await.unwrap();
}

/// An invoice taxed at fallback rates while the provider is down says so, and one taxed by the
/// provider does not.
#[tokio::test]
async fn fallback_invoice_is_flagged_estimated() {
    let stub = RunningStub::start().unwrap();
    let app = app_with_stub(&stub, ProviderOutage::FallbackRates).await;
    let party = |body: Value| {
        let app = &app;
        async move {
            let response = app.post("/v1/parties", &app.write_key, &key(), &body).await;
            assert_eq!(response.status, 201, "{}", response.body);
            response.body["id"].as_str().unwrap().to_string()
        }
    };
    let domicile = json!({ "country": "US", "subdivision": "WA", "postal_code": "98101",
                           "time_zone": "America/Los_Angeles" });
    party(
        json!({ "role": "platform", "name": "Platform", "business": true, "domicile": domicile }),
    )
    .await;
    let partner = party(json!({
        "role": "partner", "name": "Partner", "business": true, "domicile": domicile,
        "agreement": {
            "selling_role": "agent", "currencies": ["USD"],
            "commission_tiers": [{ "up_to": null, "rate": "0.10" }],
            "commission_on_refund": "refunded", "payout_delay_days": 0,
        },
    }))
    .await;
    let customer = party(json!({
        "role": "customer", "name": "Customer", "business": false, "domicile": domicile,
    }))
    .await;
    let invoice = json!({
        "customer_id": customer, "seller_id": partner, "currency": "USD",
        "issued_at": "2026-10-05T10:00:00Z",
        "lines": [{ "product": "app", "tax_code": "saas", "quantity": "1", "unit_price": "100.00" }],
    });

    let exact = app.post("/v1/invoices", &app.write_key, &key(), &invoice).await;
    assert_eq!(exact.status, 201, "{}", exact.body);
    assert_eq!(exact.body["tax_estimated"], false, "{}", exact.body);

    stub.set_fault("error", 0, None).await.unwrap();
    let estimated = app.post("/v1/invoices", &app.write_key, &key(), &invoice).await;
    stub.set_fault("none", 0, None).await.unwrap();
    assert_eq!(estimated.status, 201, "{}", estimated.body);
    assert_eq!(estimated.body["tax_estimated"], true, "{}", estimated.body);
    let id = estimated.body["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/invoices/{id}"), &app.read_key).await;
    assert_eq!(read.body["tax_estimated"], true, "{}", read.body);
}
