//! `/v1/accounts`, `/v1/entries` and `/v1/periods` over HTTP.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{Response, TestApp};

pub fn entry_body(date: &str, amount: &str) -> Value {
    json!({
        "effective_date": date,
        "description": "Commission for order 1001",
        "lines": [
            { "account": "cash_clearing.EUR", "amount": amount, "currency": "EUR" },
            {
                "account": "commission_revenue.EUR",
                "amount": format!("-{amount}"),
                "currency": "EUR",
                "memo": "order 1001"
            }
        ]
    })
}

/// Replaces the volatile fields of an entry response.
pub fn redact_entry(body: &Value) -> Value {
    let mut body = body.clone();
    if let (Some(reverses), Some(description)) =
        (body["reverses"].as_str(), body["description"].as_str())
    {
        body["description"] = json!(description.replace(reverses, "[reverses]"));
    }
    for field in ["id", "posted_at", "reverses", "reversed_by"] {
        if !body[field].is_null() {
            body[field] = json!(format!("[{field}]"));
        }
    }
    body
}

async fn post_entry(app: &TestApp, key: &str, body: &Value) -> Response {
    app.post("/v1/entries", &app.write_key, key, body).await
}

#[tokio::test]
async fn entry_round_trip() {
    let app = TestApp::spawn().await;
    let created = post_entry(&app, "entry-1", &entry_body("2026-07-01", "12.50")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    insta::assert_json_snapshot!("entry_response", redact_entry(&created.body));

    let id = created.body["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/entries/{id}"), &app.read_key).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);

    let balance = app.get("/v1/accounts/cash_clearing.EUR/balance", &app.read_key).await;
    assert_eq!(balance.status, 200);
    assert_eq!(balance.body["balance"], "12.50");
    assert_eq!(balance.body["currency"], "EUR");
}

#[tokio::test]
async fn account_create_and_read() {
    let app = TestApp::spawn().await;
    let body = json!({
        "code": "partner_payable:P-100.EUR",
        "name": "Partner P-100",
        "kind": "liability",
        "currency": "EUR",
        "party": "P-100"
    });
    let created = app.post("/v1/accounts", &app.write_key, "account-1", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let read = app.get("/v1/accounts/partner_payable:P-100.EUR", &app.read_key).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);
    insta::assert_json_snapshot!("account_response", read.body);
    let again = app.post("/v1/accounts", &app.write_key, "account-2", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, created.body);
}

#[tokio::test]
async fn balance_as_of_back_dated() {
    let app = TestApp::spawn().await;
    let later = post_entry(&app, "e-20", &entry_body("2026-07-20", "100.00")).await;
    assert_eq!(later.status, 201);
    let earlier = post_entry(&app, "e-01", &entry_body("2026-07-01", "7.00")).await;
    assert_eq!(earlier.status, 201);
    let cases = [
        ("2026-06-30", "0.00"),
        ("2026-07-01", "7.00"),
        ("2026-07-19", "7.00"),
        ("2026-07-20", "107.00"),
    ];
    for (as_of, expected) in cases {
        let path = format!("/v1/accounts/cash_clearing.EUR/balance?as_of={as_of}");
        let response = app.get(&path, &app.read_key).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.body["balance"], expected, "as of {as_of}");
        assert_eq!(response.body["as_of"], as_of);
    }
}

#[tokio::test]
async fn reversal_over_http() {
    let app = TestApp::spawn().await;
    let created = post_entry(&app, "entry-1", &entry_body("2026-07-01", "40.00")).await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/v1/entries/{id}/reversal");
    let reversal = app.post(&path, &app.write_key, "reverse-1", &json!({})).await;
    assert_eq!(reversal.status, 201, "{}", reversal.body);
    assert_eq!(reversal.body["reverses"], id);
    assert_eq!(reversal.body["lines"][0]["amount"], "-40.00");
    insta::assert_json_snapshot!("reversal_response", redact_entry(&reversal.body));

    let original = app.get(&format!("/v1/entries/{id}"), &app.read_key).await;
    assert_eq!(original.body["reversed_by"], reversal.body["id"]);
    let second = app.post(&path, &app.write_key, "reverse-2", &json!({})).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body["code"], "entry_already_reversed");
    let balance = app.get("/v1/accounts/cash_clearing.EUR/balance", &app.read_key).await;
    assert_eq!(balance.body["balance"], "0.00");
}

#[tokio::test]
async fn period_close_over_http() {
    let app = TestApp::spawn().await;
    let open = app.get("/v1/periods/2026-06", &app.read_key).await;
    assert_eq!(open.status, 200);
    assert_eq!(open.body["status"], "open");
    let closed = app.post("/v1/periods/2026-06/close", &app.write_key, "close-1", &json!({})).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["ends_on"], "2026-06-30");
    let rejected = post_entry(&app, "entry-1", &entry_body("2026-06-15", "1.00")).await;
    assert_eq!(rejected.status, 422);
    assert_eq!(rejected.body["code"], "period_closed");
    assert_eq!(rejected.body["field"], "effective_date");
}

#[tokio::test]
async fn concurrent_duplicates_post_once() {
    let app = TestApp::spawn().await;
    let body = entry_body("2026-07-01", "25.00");
    let requests = (0..50).map(|_| post_entry(&app, "same-key", &body));
    let responses = join_all(requests).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
        assert_eq!(response.body, responses[0].body);
    }
    let client = app.sql().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM journal_entries WHERE tenant_id = $1", &[&app.tenant_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    let balance = app.get("/v1/accounts/cash_clearing.EUR/balance", &app.read_key).await;
    assert_eq!(balance.body["balance"], "25.00");

    let other = post_entry(&app, "same-key", &entry_body("2026-07-01", "26.00")).await;
    assert_eq!(other.status, 409);
    assert_eq!(other.body["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn stored_failure_is_replayed() {
    let app = TestApp::spawn().await;
    let unbalanced = json!({
        "effective_date": "2026-07-01",
        "lines": [
            { "account": "cash_clearing.EUR", "amount": "1.00", "currency": "EUR" },
            { "account": "commission_revenue.EUR", "amount": "-2.00", "currency": "EUR" }
        ]
    });
    let first = post_entry(&app, "bad-1", &unbalanced).await;
    assert_eq!(first.status, 422);
    let replay = post_entry(&app, "bad-1", &unbalanced).await;
    assert_eq!(replay.status, 422);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn other_tenant_gets_not_found() {
    let app = TestApp::spawn().await;
    let created = post_entry(&app, "entry-1", &entry_body("2026-07-01", "3.00")).await;
    let id = created.body["id"].as_str().unwrap();
    let (_, other_key) = app.other_tenant("Tenant B").await;
    let paths = [format!("/v1/entries/{id}"), "/v1/accounts/partner_payable:P-1.EUR".to_string()];
    // The other tenant has its own default chart, so a code both charts share shows B's own
    // account, never A's balance.
    let shared = app.get("/v1/accounts/cash_clearing.EUR/balance", &other_key).await;
    assert_eq!(shared.status, 200);
    assert_eq!(shared.body["balance"], "0.00");
    let account = json!({
        "code": "partner_payable:P-1.EUR", "name": "P-1", "kind": "liability", "currency": "EUR"
    });
    assert_eq!(app.post("/v1/accounts", &app.write_key, "acc", &account).await.status, 201);
    for path in paths {
        let response = app.get(&path, &other_key).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.body["code"], "not_found");
    }
    let reversal =
        app.post(&format!("/v1/entries/{id}/reversal"), &other_key, "rev", &json!({})).await;
    assert_eq!(reversal.status, 404);
    let balance = app.get("/v1/accounts/partner_payable:P-1.EUR/balance", &other_key).await;
    assert_eq!(balance.status, 404);
}

#[tokio::test]
async fn openapi_lists_ledger_routes() {
    let app = TestApp::spawn().await;
    let response = app.client.get(format!("{}/v1/openapi.json", app.address)).send().await.unwrap();
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let routes = [
        ("/v1/accounts", "post"),
        ("/v1/accounts/{code}", "get"),
        ("/v1/accounts/{code}/balance", "get"),
        ("/v1/entries", "post"),
        ("/v1/entries/{id}", "get"),
        ("/v1/entries/{id}/reversal", "post"),
        ("/v1/periods/{id}/close", "post"),
        ("/v1/periods/{id}", "get"),
    ];
    for (path, method) in routes {
        assert!(document["paths"][path][method].is_object(), "{method} {path} missing");
    }
}
