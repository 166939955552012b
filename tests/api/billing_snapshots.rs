//! Response shapes of billing documents and reports, with ids redacted.

use serde_json::{json, Value};

use crate::billing_support::{agreement, invoice_body, payment_body, Books};

/// Replaces every UUID string with "[uuid]" so snapshots do not depend on generated ids.
fn redact_ids(value: Value) -> Value {
    match value {
        Value::String(text) if uuid::Uuid::parse_str(&text).is_ok() => json!("[uuid]"),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_ids).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(key, value)| (key, redact_ids(value))).collect())
        }
        other => other,
    }
}

#[tokio::test]
async fn invoice_snapshot() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("IT").await;
    let mut body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00", "4.99"]);
    body["lines"][1]["quantity"] = json!("3");
    body["lines"][1]["discount"] = json!("0.97");
    let invoice = books.create("/v1/invoices", &body).await;
    insta::assert_json_snapshot!("invoice", redact_ids(invoice));
}

#[tokio::test]
async fn credit_note_snapshot() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("supplier", "0.15", "refunded")).await;
    let customer = books.customer("FR").await;
    let prices = ["68.33", "68.33", "57.50", "85.00"];
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &prices);
    let invoice = books.create("/v1/invoices", &body).await;
    let credit = json!({
        "invoice_id": invoice["id"],
        "issued_at": "2026-10-10T09:00:00Z",
        "reason": "app not delivered",
        "lines": [{ "line_no": 1 }, { "line_no": 4, "amount": "40.00" }],
    });
    let note = books.create("/v1/credit-notes", &credit).await;
    insta::assert_json_snapshot!("credit_note", redact_ids(note));
}

#[tokio::test]
async fn partner_statement_snapshot() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.20", "refunded")).await;
    let customer = books.customer("BR").await;
    let october = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["125.00"]);
    let invoice = books.create("/v1/invoices", &october).await;
    books.create("/v1/payments", &payment_body(&customer, "125.00", "2026-10-06")).await;
    books.create("/v1/payout-runs", &json!({ "as_of": "2026-10-31" })).await;
    let credit = json!({
        "invoice_id": invoice["id"],
        "issued_at": "2026-11-10T09:00:00Z",
        "lines": [{ "line_no": 1, "amount": "112.50" }],
    });
    books.create("/v1/credit-notes", &credit).await;
    let november = invoice_body(&customer, &partner, "2026-11-12T10:00:00Z", &["250.00"]);
    books.create("/v1/invoices", &november).await;
    books.create("/v1/payments", &payment_body(&customer, "137.50", "2026-11-13")).await;
    books.create("/v1/payout-runs", &json!({ "as_of": "2026-11-30" })).await;
    let statement = books.get(&format!("/v1/partners/{partner}/statement")).await;
    insta::assert_json_snapshot!("partner_statement", redact_ids(statement));
}

#[tokio::test]
async fn aging_snapshot() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.10", "refunded")).await;
    let first = books.customer("BR").await;
    let second = books.customer("BR").await;
    let invoices = [
        (&first, "2026-07-01", "100.00"),
        (&first, "2026-09-15", "40.00"),
        (&second, "2026-10-15", "30.00"),
        (&second, "2026-11-20", "20.00"),
    ];
    for (customer, day, price) in invoices {
        let body = invoice_body(customer, &partner, &format!("{day}T10:00:00Z"), &[price]);
        books.create("/v1/invoices", &body).await;
    }
    let mut not_due = invoice_body(&second, &partner, "2026-11-25T10:00:00Z", &["10.00"]);
    not_due["due_on"] = json!("2026-12-20");
    books.create("/v1/invoices", &not_due).await;
    books.create("/v1/payments", &payment_body(&first, "25.00", "2026-11-01")).await;

    let aging = books.get("/v1/reports/aging?as_of=2026-11-30").await;
    let mut rows = aging.as_array().unwrap().clone();
    rows.sort_by_key(|row| row["total"].as_str().unwrap().to_string());
    insta::assert_json_snapshot!("aging", redact_ids(Value::Array(rows)));
}
