//! `/v1/parties/{id}/agreements`: versions of a partner's agreement, the version each document
//! uses, and the changes that would rewrite issued documents.

use serde_json::{json, Value};

use crate::billing_support::{agreement, invoice_body, payment_body, Books};
use crate::helpers::Response;

/// A FR platform, a DE partner at 15% and a DE consumer.
async fn books_with_partner() -> (Books, String, String) {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("DE").await;
    (books, partner, customer)
}

fn change(rate: &str, effective_from: &str) -> Value {
    let mut body = agreement("agent", rate, "refunded");
    body["effective_from"] = json!(effective_from);
    body
}

async fn post_change(books: &Books, partner: &str, body: &Value) -> Response {
    books.post(&format!("/v1/parties/{partner}/agreements"), body).await
}

#[tokio::test]
async fn changed_rate_applies_from_effective_date() {
    let (books, partner, customer) = books_with_partner().await;
    let changed = post_change(&books, &partner, &change("0.20", "2025-12-01")).await;
    assert_eq!(changed.status, 201, "{}", changed.body);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.body["effective_from"], "2025-12-01");

    let body = invoice_body(&customer, &partner, "2025-11-30T23:30:00Z", &["100.00"]);
    let november = books.create("/v1/invoices", &body).await;
    let body = invoice_body(&customer, &partner, "2025-12-01T00:30:00Z", &["100.00"]);
    let december = books.create("/v1/invoices", &body).await;
    assert_eq!(november["commission"]["amount"], "15.00");
    assert_eq!(december["commission"]["amount"], "20.00");

    let credit = json!({ "invoice_id": november["id"], "issued_at": "2025-12-02T10:00:00Z" });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["commission"], "15.00", "{note}");

    let party = books.get(&format!("/v1/parties/{partner}")).await;
    assert_eq!(party["agreement"]["version"], 2, "{party}");
    assert_eq!(party["agreement"]["effective_from"], "2025-12-01");
    assert_eq!(party["agreement"]["commission_tiers"][0]["rate"], "0.20");
    let versions = books.get(&format!("/v1/parties/{partner}/agreements")).await;
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    assert_eq!(versions[0]["effective_from"], Value::Null);
    assert_eq!(versions[0]["commission_tiers"][0]["rate"], "0.15");
}

#[tokio::test]
async fn future_version_is_not_current_yet() {
    let (books, partner, _) = books_with_partner().await;
    let next_year = chrono::Utc::now().date_naive() + chrono::Days::new(366);
    let changed = post_change(&books, &partner, &change("0.25", &next_year.to_string())).await;
    assert_eq!(changed.status, 201, "{}", changed.body);

    let party = books.get(&format!("/v1/parties/{partner}")).await;
    assert_eq!(party["agreement"]["version"], 1, "{party}");
    assert_eq!(party["agreement"]["effective_from"], Value::Null);
}

#[tokio::test]
async fn bad_effective_from_is_rejected_with_nothing_written() {
    let (books, partner, customer) = books_with_partner().await;
    let body = invoice_body(&customer, &partner, "2025-12-01T10:00:00Z", &["100.00"]);
    books.create("/v1/invoices", &body).await;
    let later = post_change(&books, &partner, &change("0.20", "2026-01-01")).await;
    assert_eq!(later.status, 201, "{}", later.body);
    let versions_before = books.count("partner_agreements").await;

    let mut missing = change("0.20", "2026-02-01");
    missing.as_object_mut().unwrap().remove("effective_from");
    let mut other_role = change("0.20", "2026-02-01");
    other_role["selling_role"] = json!("supplier");
    let mut unknown_field = change("0.20", "2026-02-01");
    unknown_field["comission_tiers"] = json!([]);
    let cases = [
        (change("0.20", "2025-12-01"), "effective_from_too_early", "effective_from"),
        (change("0.20", "2025-11-15"), "effective_from_too_early", "effective_from"),
        (change("0.30", "2026-01-01"), "effective_from_too_early", "effective_from"),
        (change("0.20", "2026-13-01"), "invalid_field", "effective_from"),
        (missing, "invalid_field", "effective_from"),
        (other_role, "invalid_field", "selling_role"),
        (unknown_field, "invalid_field", "comission_tiers"),
        (change("1.50", "2026-02-01"), "invalid_field", "commission_tiers[0]"),
    ];
    for (body, code, field) in cases {
        let response = post_change(&books, &partner, &body).await;
        assert_eq!(response.status, 422, "{body}: {}", response.body);
        assert_eq!(response.body["code"], code, "{body}: {}", response.body);
        assert_eq!(response.body["field"], field, "{body}: {}", response.body);
    }
    assert_eq!(books.count("partner_agreements").await, versions_before);

    let customer_id = customer.clone();
    let not_partner = post_change(&books, &customer_id, &change("0.20", "2026-02-01")).await;
    assert_eq!(not_partner.status, 404, "{}", not_partner.body);
}

/// A payout run uses the minimum payout of the version in effect on its date.
#[tokio::test]
async fn payout_uses_version_on_run_date() {
    let (books, partner, customer) = books_with_partner().await;
    let mut raised = change("0.15", "2025-12-01");
    raised["minimum_payouts"] = json!({ "EUR": "1000.00" });
    let changed = post_change(&books, &partner, &raised).await;
    assert_eq!(changed.status, 201, "{}", changed.body);

    let body = invoice_body(&customer, &partner, "2025-11-10T10:00:00Z", &["100.00"]);
    books.create("/v1/invoices", &body).await;
    books.create("/v1/payments", &payment_body(&customer, "119.00", "2025-11-12")).await;
    let november = books.create("/v1/payout-runs", &json!({ "as_of": "2025-11-30" })).await;
    assert_eq!(november["lines"][0]["outcome"], "paid", "{november}");

    let body = invoice_body(&customer, &partner, "2025-12-05T10:00:00Z", &["100.00"]);
    books.create("/v1/invoices", &body).await;
    books.create("/v1/payments", &payment_body(&customer, "119.00", "2025-12-06")).await;
    let december = books.create("/v1/payout-runs", &json!({ "as_of": "2025-12-31" })).await;
    assert_eq!(december["lines"][0]["outcome"], "below_minimum", "{december}");

    let too_early = post_change(&books, &partner, &change("0.15", "2025-12-31")).await;
    assert_eq!(too_early.status, 422, "{}", too_early.body);
    assert_eq!(too_early.body["code"], "effective_from_too_early");
}

/// Builds the `effective_from_too_early` case of the error table: a change dated on the day
/// of an issued invoice.
pub async fn too_early_case() -> (Response, Vec<String>) {
    let (books, partner, customer) = books_with_partner().await;
    let body = invoice_body(&customer, &partner, "2025-12-01T10:00:00Z", &["100.00"]);
    books.create("/v1/invoices", &body).await;
    let response = post_change(&books, &partner, &change("0.20", "2025-12-01")).await;
    (response, vec![partner, customer])
}
