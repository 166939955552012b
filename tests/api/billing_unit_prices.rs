//! Unit prices and quantities finer than the minor unit: each line's net is rounded half-up to
//! the currency, and credits by quantity round the same way.

use serde_json::{json, Value};

use crate::billing_support::{account, agreement, dec, Books};

/// Opens a FR platform and partner selling to a BR customer, outside the scope of VAT, so each
/// invoice's total is its net.
async fn books(currencies: &[&str]) -> (Books, String, String) {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let mut terms = agreement("agent", "0.10", "refunded");
    terms["currencies"] = json!(currencies);
    let partner = books.partner("FR", Some("FR40303265045"), terms).await;
    let customer = books.customer("BR").await;
    (books, partner, customer)
}

fn metered(customer: &str, partner: &str, currency: &str, quantity: &str, price: &str) -> Value {
    json!({
        "customer_id": customer,
        "seller_id": partner,
        "currency": currency,
        "issued_at": "2026-10-05T10:00:00Z",
        "lines": [{ "product": "machine-hours", "tax_code": "machine_use",
                    "quantity": quantity, "unit_price": price }],
    })
}

#[tokio::test]
async fn fine_unit_prices_round_half_up() {
    let (books, partner, customer) = books(&["USD", "EUR", "JPY"]).await;
    let cases = [
        ("USD", "1000", "0.035", "35.00"),
        ("EUR", "3", "0.333333", "1.00"),
        ("JPY", "2.5", "99", "248"),
    ];
    for (currency, quantity, price, net) in cases {
        let body = metered(&customer, &partner, currency, quantity, price);
        let invoice = books.create("/v1/invoices", &body).await;
        let case = format!("{quantity} x {price} {currency}");
        assert_eq!(invoice["lines"][0]["net"], net, "{case}");
        assert_eq!(invoice["lines"][0]["unit_price"], price, "{case}");
        assert_eq!(invoice["lines"][0]["quantity"], quantity, "{case}");
        assert_eq!(invoice["net_total"], net, "{case}");
        assert_eq!(invoice["total"], net, "{case}");
        let receivable = format!("receivable:{}.{currency}", customer.replace('-', ""));
        assert_eq!(books.balance(&receivable).await, dec(net), "{case}");
    }
}

#[tokio::test]
async fn seventh_decimal_is_rejected() {
    let (books, partner, customer) = books(&["USD"]).await;
    let cases = [
        ("1", "0.0350001", "lines[0].unit_price", "0.0350001"),
        ("1.0000001", "0.035", "lines[0].quantity", "1.0000001"),
    ];
    for (quantity, price, field, value) in cases {
        let body = metered(&customer, &partner, "USD", quantity, price);
        let response = books.post("/v1/invoices", &body).await;
        assert_eq!(response.status, 422, "{field}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_field", "{field}");
        assert_eq!(response.body["field"], field);
        assert_eq!(response.body["value"], value, "{field}");
    }
    assert_eq!(books.count("invoices").await, 0);
    assert_eq!(books.count("journal_entries").await, 0);
}

#[tokio::test]
async fn discount_stays_exact() {
    let (books, partner, customer) = books(&["USD"]).await;
    let mut body = metered(&customer, &partner, "USD", "1000", "0.035");
    body["lines"][0]["discount"] = json!("0.005");
    let response = books.post("/v1/invoices", &body).await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert_eq!(response.body["code"], "currency_precision_exceeded");
    assert_eq!(response.body["field"], "lines[0].discount");

    body["lines"][0]["discount"] = json!("0.01");
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["lines"][0]["net"], "34.99");
}

/// Credits by fractional quantities of a metered line round half-up like the invoice and
/// never credit more than the line's net.
#[tokio::test]
async fn credit_by_fine_quantity_never_exceeds_line() {
    let (books, partner, customer) = books(&["USD"]).await;
    let body = metered(&customer, &partner, "USD", "1000", "0.035");
    let invoice = books.create("/v1/invoices", &body).await;
    let credit = |quantity: &str, day: u32| {
        json!({
            "invoice_id": invoice["id"],
            "issued_at": format!("2026-10-{day:02}T10:00:00Z"),
            "lines": [{ "line_no": 1, "quantity": quantity }],
        })
    };
    // 35.00 × 1 / 1000 = 0.035, half-up 0.04.
    let first = books.create("/v1/credit-notes", &credit("1", 6)).await;
    assert_eq!(first["net"], "0.04");
    // 35.00 × 0.5 / 1000 = 0.0175, half-up 0.02.
    let second = books.create("/v1/credit-notes", &credit("0.5", 7)).await;
    assert_eq!(second["net"], "0.02");

    let too_fine = books.post("/v1/credit-notes", &credit("0.0000001", 8)).await;
    assert_eq!(too_fine.status, 422, "{}", too_fine.body);
    assert_eq!(too_fine.body["field"], "lines[0].quantity");
    assert_eq!(too_fine.body["value"], "0.0000001");
    let too_many = books.post("/v1/credit-notes", &credit("998.500001", 8)).await;
    assert_eq!(too_many.body["code"], "credit_above_residual", "{}", too_many.body);

    let rest = books.create("/v1/credit-notes", &credit("998.5", 8)).await;
    assert_eq!(rest["net"], "34.94");
    let read = books.get(&format!("/v1/invoices/{}", invoice["id"].as_str().unwrap())).await;
    assert_eq!(read["lines"][0]["credited_net"], "35.00");
    assert_eq!(read["status"], "credited");
    let receivable = account("receivable", &customer).replace(".EUR", ".USD");
    assert_eq!(books.balance(&receivable).await, dec("0.00"));
}
