//! Bad billing input: a clear error naming the field and value, and nothing written.

use serde_json::{json, Value};

use crate::billing_support::{agreement, invoice_body, payment_body, Books};

struct Sale {
    books: Books,
    partner: String,
    customer: String,
    invoice: String,
}

/// A tenant with one open 100.00 invoice (no tax: the customer is outside the EU).
async fn sale() -> Sale {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("US").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    let invoice = books.create("/v1/invoices", &body).await["id"].as_str().unwrap().to_string();
    Sale { books, partner, customer, invoice }
}

/// Posts `body`, expects a 422 with `code` naming `field`, and checks nothing was written.
async fn rejected(sale: &Sale, path: &str, body: &Value, code: &str, field: &str) -> Value {
    let tables = ["journal_entries", "invoices", "payments", "credit_notes", "payouts", "parties"];
    let mut before = Vec::new();
    for table in tables {
        before.push(sale.books.count(table).await);
    }
    let response = sale.books.post(path, body).await;
    assert_eq!(response.status, 422, "{path}: {}", response.body);
    assert_eq!(response.body["code"], code, "{}", response.body);
    assert_eq!(response.body["field"], field, "{}", response.body);
    for (table, count) in tables.iter().zip(before) {
        assert_eq!(sale.books.count(table).await, count, "{table} changed");
    }
    response.body
}

#[tokio::test]
async fn invoice_rejects_unknown_parties() {
    let sale = sale().await;
    let stranger = uuid::Uuid::now_v7().to_string();
    let body = invoice_body(&stranger, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    let problem = rejected(&sale, "/v1/invoices", &body, "unknown_party", "customer_id").await;
    assert_eq!(problem["value"], stranger.as_str());
    let body = invoice_body(&sale.customer, &stranger, "2026-10-06T10:00:00Z", &["1.00"]);
    rejected(&sale, "/v1/invoices", &body, "unknown_party", "seller_id").await;
    // A customer is not a partner.
    let body = invoice_body(&sale.customer, &sale.customer, "2026-10-06T10:00:00Z", &["1.00"]);
    rejected(&sale, "/v1/invoices", &body, "unknown_party", "seller_id").await;
}

#[tokio::test]
async fn invoice_rejects_currency_outside_agreement() {
    let sale = sale().await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["currency"] = json!("USD");
    let problem = rejected(&sale, "/v1/invoices", &body, "currency_not_allowed", "currency").await;
    assert_eq!(problem["value"], "USD");
}

#[tokio::test]
async fn invoice_rejects_second_currency() {
    let sale = sale().await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["lines"][0]["currency"] = json!("USD");
    rejected(&sale, "/v1/invoices", &body, "currency_mismatch", "lines[0].currency").await;
}

#[tokio::test]
async fn invoice_rejects_negative_amounts() {
    let sale = sale().await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["lines"][0]["quantity"] = json!("-1");
    let problem =
        rejected(&sale, "/v1/invoices", &body, "invalid_field", "lines[0].quantity").await;
    assert_eq!(problem["value"], "-1");
    let body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["-5.00"]);
    rejected(&sale, "/v1/invoices", &body, "invalid_field", "lines[0].unit_price").await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["lines"][0]["discount"] = json!("2.00");
    rejected(&sale, "/v1/invoices", &body, "invalid_field", "lines[0].discount").await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["lines"][0]["unit_price"] = json!(1.5);
    rejected(&sale, "/v1/invoices", &body, "invalid_field", "lines[0].unit_price").await;
}

#[tokio::test]
async fn credit_note_rejects_amount_above_residual() {
    let sale = sale().await;
    let body = json!({
        "invoice_id": sale.invoice,
        "issued_at": "2026-10-07T10:00:00Z",
        "lines": [{ "line_no": 1, "amount": "100.01" }],
    });
    let path = "/v1/credit-notes";
    let problem = rejected(&sale, path, &body, "credit_above_residual", "lines[0].amount").await;
    assert_eq!(problem["value"], "100.01");

    let full = json!({ "invoice_id": sale.invoice, "issued_at": "2026-10-07T10:00:00Z" });
    sale.books.create(path, &full).await;
    let again = json!({ "invoice_id": sale.invoice, "issued_at": "2026-10-08T10:00:00Z" });
    rejected(&sale, path, &again, "credit_above_residual", "invoice_id").await;
    let unknown = json!({
        "invoice_id": uuid::Uuid::now_v7(),
        "issued_at": "2026-10-08T10:00:00Z",
    });
    rejected(&sale, path, &unknown, "unknown_invoice", "invoice_id").await;
}

#[tokio::test]
async fn payment_rejects_allocation_above_open_amount() {
    let sale = sale().await;
    let mut body = payment_body(&sale.customer, "150.00", "2026-10-06");
    body["allocations"] = json!([{ "invoice_id": sale.invoice, "amount": "100.01" }]);
    let path = "/v1/payments";
    rejected(&sale, path, &body, "allocation_above_open_amount", "allocations[0].amount").await;
}

#[tokio::test]
async fn payment_rejects_other_customers_invoice() {
    let sale = sale().await;
    let other = sale.books.customer("US").await;
    let mut body = payment_body(&other, "10.00", "2026-10-06");
    body["allocations"] = json!([{ "invoice_id": sale.invoice, "amount": "10.00" }]);
    let path = "/v1/payments";
    rejected(&sale, path, &body, "allocation_not_open", "allocations[0].invoice_id").await;
}

#[tokio::test]
async fn payment_rejects_currency_mismatch() {
    let sale = sale().await;
    let mut body = payment_body(&sale.customer, "10.00", "2026-10-06");
    body["currency"] = json!("USD");
    body["allocations"] = json!([{ "invoice_id": sale.invoice, "amount": "10.00" }]);
    let path = "/v1/payments";
    rejected(&sale, path, &body, "currency_mismatch", "allocations[0].invoice_id").await;
    let mut body = payment_body(&sale.customer, "-10.00", "2026-10-06");
    body["currency"] = json!("EUR");
    rejected(&sale, path, &body, "invalid_field", "amount").await;
}

#[tokio::test]
async fn payout_run_rejects_future_date() {
    let sale = sale().await;
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let body = json!({ "as_of": tomorrow.to_string() });
    let problem = rejected(&sale, "/v1/payout-runs", &body, "payout_date_in_future", "as_of").await;
    assert_eq!(problem["value"], tomorrow.to_string());
}

#[tokio::test]
async fn party_rejects_bad_vat_id_and_missing_agreement() {
    let sale = sale().await;
    let body = crate::billing_support::party_body("customer", "Buyer", "DE", true, Some("FR123"));
    rejected(&sale, "/v1/parties", &body, "invalid_vat_id", "vat_id").await;
    let body = crate::billing_support::party_body("partner", "Seller", "DE", true, None);
    rejected(&sale, "/v1/parties", &body, "invalid_field", "agreement").await;
}

#[tokio::test]
async fn invoice_rejects_malformed_json() {
    let sale = sale().await;
    let before = sale.books.count("journal_entries").await;
    let app = &sale.books.app;
    let response = app.post_raw("/v1/invoices", &app.write_key, "raw-1", "{\"lines\": [").await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["code"], "malformed_json");
    assert_eq!(sale.books.count("journal_entries").await, before);
}
