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

#[tokio::test]
async fn nul_problem_is_stored_and_replayed() {
    let app = TestApp::spawn().await;
    let mut body = entry_body("2026-07-01", "1.00");
    body["lines"][0]["account"] = json!("cash\u{0}clearing.EUR");
    let first = post_entry(&app, "nul-code", &body).await;
    assert_eq!(first.status, 422, "{}", first.body);
    assert_eq!(first.body["code"], "invalid_account_code");
    assert_eq!(first.body["field"], "lines[0].account");
    assert_eq!(first.body["value"], "cash\u{0}clearing.EUR");
    let replay = post_entry(&app, "nul-code", &body).await;
    assert_eq!(replay.status, 422);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
}

/// Counts the tenant's journal entries and accounts, to show a rejection wrote nothing.
async fn entry_and_account_counts(app: &TestApp) -> (i64, i64) {
    let client = app.sql().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM journal_entries WHERE tenant_id = $1), \
                    (SELECT count(*) FROM accounts WHERE tenant_id = $1)",
            &[&app.tenant_id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn nul_characters_in_texts_are_rejected() {
    let app = TestApp::spawn().await;
    let before = entry_and_account_counts(&app).await;
    let mut description = entry_body("2026-07-01", "1.00");
    description["description"] = json!("order\u{0}1001");
    let mut memo = entry_body("2026-07-01", "1.00");
    memo["lines"][1]["memo"] = json!("\u{0}");
    let account = |name: &str, party: &str| json!({ "code": "nul.EUR", "name": name, "kind": "asset", "currency": "EUR", "party": party });
    let cases = [
        ("/v1/entries", description, "description", "order\u{0}1001"),
        ("/v1/entries", memo, "lines[1].memo", "\u{0}"),
        ("/v1/accounts", account("a\u{0}", "P-1"), "name", "a\u{0}"),
        ("/v1/accounts", account("Nul", "\u{0}P"), "party", "\u{0}P"),
    ];
    for (index, (path, body, field, value)) in cases.into_iter().enumerate() {
        let response = app.post(path, &app.write_key, &format!("nul-{index}"), &body).await;
        assert_eq!(response.status, 422, "{field}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_field");
        assert_eq!(response.body["field"], field);
        assert_eq!(response.body["value"], value);
    }
    assert_eq!(entry_and_account_counts(&app).await, before);
}

#[tokio::test]
async fn out_of_range_dates_are_rejected() {
    let app = TestApp::spawn().await;
    let before = entry_and_account_counts(&app).await;
    for (index, date) in ["-4714-01-01", "0000-12-31", "+10000-01-01"].into_iter().enumerate() {
        let response = post_entry(&app, &format!("date-{index}"), &entry_body(date, "1.00")).await;
        assert_eq!(response.status, 422, "{date}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_field");
        assert_eq!(response.body["field"], "effective_date");
        assert_eq!(response.body["value"], date);

        let path = format!("/v1/accounts/bank.EUR/balance?as_of={}", date.replace('+', "%2B"));
        let response = app.get(&path, &app.read_key).await;
        assert_eq!(response.status, 400, "{date}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_parameter");
        assert_eq!(response.body["field"], "as_of");
        assert_eq!(response.body["value"], date);
    }
    let posted = post_entry(&app, "date-ok", &entry_body("2026-07-01", "1.00")).await;
    let id = posted.body["id"].as_str().unwrap();
    let reversal = json!({ "effective_date": "-4714-01-01" });
    let path = format!("/v1/entries/{id}/reversal");
    let response = app.post(&path, &app.write_key, "date-reversal", &reversal).await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert_eq!(response.body["field"], "effective_date");
    let (entries, accounts) = entry_and_account_counts(&app).await;
    assert_eq!((entries, accounts), (before.0 + 1, before.1));
}

#[tokio::test]
async fn malformed_as_of_names_the_parameter() {
    let app = TestApp::spawn().await;
    for as_of in ["2026-13-01", "2026-02-30", "yesterday", ""] {
        let path = format!("/v1/accounts/bank.EUR/balance?as_of={as_of}");
        let response = app.get(&path, &app.read_key).await;
        assert_eq!(response.status, 400, "{as_of}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_parameter");
        assert_eq!(response.body["field"], "as_of");
        assert_eq!(response.body["value"], as_of);
    }
}

#[tokio::test]
async fn unparsable_amounts_get_fitting_errors() {
    let app = TestApp::spawn().await;
    let cases = [
        ("--1", "invalid_field"),
        ("+-1", "invalid_field"),
        ("1.0000000000000000000000000000001", "currency_precision_exceeded"),
        ("0.00000000000000000000000000001", "currency_precision_exceeded"),
        ("99999999999999999999999999999999", "amount_out_of_range"),
        ("-99999999999999999999999999999.9", "amount_out_of_range"),
    ];
    for (index, (amount, code)) in cases.into_iter().enumerate() {
        let mut body = entry_body("2026-07-01", "1.00");
        body["lines"][0]["amount"] = json!(amount);
        let response = post_entry(&app, &format!("amount-{index}"), &body).await;
        assert_eq!(response.status, 422, "{amount}: {}", response.body);
        assert_eq!(response.body["code"], code, "{amount}: {}", response.body);
        assert_eq!(response.body["field"], "lines[0].amount");
        assert_eq!(response.body["value"], amount);
    }

    // A JSON number is named with the message the billing routes give it.
    let mut body = entry_body("2026-07-01", "1.00");
    body["lines"][0]["amount"] = json!(1.5);
    let response = post_entry(&app, "amount-number", &body).await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert_eq!(response.body["code"], "invalid_field");
    assert_eq!(response.body["field"], "lines[0].amount");
    assert_eq!(response.body["value"], 1.5);
    let detail = response.body["detail"].as_str().unwrap();
    assert!(detail.contains("expected a decimal string such as \"12.50\""), "{detail}");
}

#[tokio::test]
async fn openapi_lists_common_errors() {
    let app = TestApp::spawn().await;
    let response = app.client.get(format!("{}/v1/openapi.json", app.address)).send().await.unwrap();
    let document: Value = response.json().await.unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            let mut expected = vec!["400", "401"];
            if method == "post" {
                expected.extend(["403", "413"]);
            }
            // Every write but a batch, whose documents carry their own keys, takes the header.
            if method == "post" && path != "/v1/batches" {
                let parameters = operation["parameters"].as_array();
                let header = parameters.into_iter().flatten().find(|parameter| {
                    parameter["name"] == "Idempotency-Key" && parameter["in"] == "header"
                });
                let header = header
                    .unwrap_or_else(|| panic!("{method} {path} has no Idempotency-Key header"));
                assert_eq!(header["required"], true, "{method} {path}");
                expected.push("409");
            }
            for status in expected {
                assert!(responses.contains_key(status), "{method} {path} lacks {status}");
            }
            for (status, response) in
                responses.iter().filter(|(status, _)| status.as_str() >= "400")
            {
                let content = response["content"].as_object().unwrap();
                let types: Vec<&String> = content.keys().collect();
                assert_eq!(types, ["application/problem+json"], "{method} {path} {status}");
            }
        }
    }
    assert!(operations >= 8, "{operations} operations");
    // A rejected value may be a string, a number or an object.
    let value = &document["components"]["schemas"]["Problem"]["properties"]["value"];
    assert!(value.is_object(), "{value}");
    assert!(value.get("type").is_none(), "{value}");
}

#[tokio::test]
async fn idempotency_key_errors_name_the_key() {
    let app = TestApp::spawn().await;
    let first = post_entry(&app, "key-1", &entry_body("2026-07-01", "1.00")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let other = post_entry(&app, "key-1", &entry_body("2026-07-01", "2.00")).await;
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(other.body["field"], "Idempotency-Key");
    assert_eq!(other.body["value"], "key-1");

    let long = "k".repeat(256);
    let response = post_entry(&app, &long, &entry_body("2026-07-01", "1.00")).await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.body["field"], "Idempotency-Key");
    assert_eq!(response.body["value"], long.as_str());
}
