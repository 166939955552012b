//! Edges of billing input: lines and credits near the limits of decimal arithmetic.

use serde_json::{json, Value};

use crate::billing_support::{agreement, Books};

/// A FR platform and partner selling to `customer_country`.
async fn books(terms: Value, customer_country: &str) -> (Books, String, String) {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", Some("FR40303265045"), terms).await;
    let customer = books.customer(customer_country).await;
    (books, partner, customer)
}

fn line(quantity: &str, price: &str) -> Value {
    json!({ "product": "hours", "tax_code": "electronic_service", "quantity": quantity,
            "unit_price": price })
}

fn invoice(customer: &str, partner: &str, lines: Vec<Value>) -> Value {
    json!({ "customer_id": customer, "seller_id": partner, "currency": "EUR",
            "issued_at": "2026-10-05T10:00:00Z", "lines": lines })
}

/// Lines whose net or commission the ledger cannot hold are rejected before they are taxed,
/// and the service keeps answering.
#[tokio::test]
async fn lines_beyond_ledger_limit_are_rejected() {
    let mut terms = agreement("agent", "0.10", "refunded");
    terms["fixed_fees"] = json!({ "EUR": "0.10" });
    let (books, partner, customer) = books(terms, "BR").await;
    let max = "79228162514264337593543950335";
    let half = "40000000000000000000000000000";
    let cases = [
        (vec![line("100000000000000", "100")], "lines[0].quantity"),
        (vec![line(max, "2")], "lines[0].quantity"),
        (vec![line(max, "0")], "lines[0].quantity"),
        (vec![line("1", "1"), line(half, "1"), line(half, "1")], "lines[1].quantity"),
        (vec![line("99999999999999.999999", "99999999999999.999999")], "lines[0].quantity"),
    ];
    for (lines, field) in cases {
        let body = invoice(&customer, &partner, lines);
        let response = books.post("/v1/invoices", &body).await;
        assert_eq!(response.status, 422, "{body}: {}", response.body);
        assert_eq!(response.body["code"], "amount_out_of_range", "{body}: {}", response.body);
        assert_eq!(response.body["field"], field, "{body}: {}", response.body);
    }
    assert_eq!(books.count("invoices").await, 0);
    let body = invoice(&customer, &partner, vec![line("1", "1")]);
    books.create("/v1/invoices", &body).await;
}

/// A credit by quantity of a line with a huge quantity takes its share without overflowing
/// net × quantity.
#[tokio::test]
async fn credit_of_huge_quantity_is_prorated() {
    let (books, partner, customer) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    let body = invoice(&customer, &partner, vec![line("100000000000000000000", "0.000001")]);
    let issued = books.create("/v1/invoices", &body).await;
    assert_eq!(issued["net_total"], "100000000000000.00");
    let credit = json!({ "invoice_id": issued["id"], "issued_at": "2026-10-06T10:00:00Z",
                         "lines": [{ "line_no": 1, "quantity": "50000000000000000000" }] });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["net"], "50000000000000.00", "{note}");
    assert_eq!(note["commission"], "5000000000000.00", "{note}");
}

/// The tax of a large invoice is credited pro rata: tax × credited base must not overflow.
#[tokio::test]
async fn credit_of_large_taxed_invoice_is_prorated() {
    let (books, partner, customer) = books(agreement("agent", "0.10", "refunded"), "FR").await;
    let body = invoice(&customer, &partner, vec![line("1", "800000000000000.00")]);
    let issued = books.create("/v1/invoices", &body).await;
    assert_eq!(issued["tax_total"], "160000000000000.00", "{issued}");
    let credit = json!({ "invoice_id": issued["id"], "issued_at": "2026-10-06T10:00:00Z",
                         "lines": [{ "line_no": 1, "amount": "500000000000000.00" }] });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["tax"], "100000000000000.00", "{note}");
    assert_eq!(note["commission"], "50000000000000.00", "{note}");
    let rest = json!({ "invoice_id": issued["id"], "issued_at": "2026-10-07T10:00:00Z" });
    let last = books.create("/v1/credit-notes", &rest).await;
    assert_eq!(last["tax"], "60000000000000.00", "{last}");
}
