//! Bad billing input: a clear error naming the field and value, and nothing written.

use serde_json::{json, Value};

use crate::billing_support::{agreement, invoice_body, payment_body, Books};

struct Sale {
    books: Books,
    partner: String,
    customer: String,
    invoice: String,
}

/// Opens a tenant with one open 100.00 invoice, untaxed because the customer is outside the EU.
async fn sale() -> Sale {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    let invoice = books.create("/v1/invoices", &body).await["id"].as_str().unwrap().to_string();
    Sale { books, partner, customer, invoice }
}

/// Posts `body`, expects a 422 with `code` naming `field`, and checks nothing was written.
async fn rejected(sale: &Sale, path: &str, body: &Value, code: &str, field: &str) -> Value {
    rejected_by(&sale.books, path, body, code, field).await
}

/// Like `rejected`, on any tenant's books.
async fn rejected_by(books: &Books, path: &str, body: &Value, code: &str, field: &str) -> Value {
    let tables = [
        "journal_entries",
        "invoices",
        "payments",
        "credit_notes",
        "payouts",
        "parties",
        "tax_determinations",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(books.count(table).await);
    }
    let response = books.post(path, body).await;
    assert_eq!(response.status, 422, "{path}: {}", response.body);
    assert_eq!(response.body["code"], code, "{}", response.body);
    assert_eq!(response.body["field"], field, "{}", response.body);
    for (table, count) in tables.iter().zip(before) {
        assert_eq!(books.count(table).await, count, "{table} changed");
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
async fn invoice_names_missing_fields() {
    let sale = sale().await;
    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body.as_object_mut().unwrap().remove("currency");
    let problem = rejected(&sale, "/v1/invoices", &body, "invalid_field", "currency").await;
    assert_eq!(problem["detail"], "currency: missing required field");
    assert!(problem.get("value").is_none(), "{problem}");

    let mut body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &["1.00"]);
    body["lines"][0].as_object_mut().unwrap().remove("unit_price");
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
async fn credit_note_rejects_issue_before_invoice() {
    let sale = sale().await;
    let body = json!({ "invoice_id": sale.invoice, "issued_at": "2026-10-04T10:00:00Z" });
    let problem = rejected(&sale, "/v1/credit-notes", &body, "invalid_field", "issued_at").await;
    assert_eq!(problem["value"], "2026-10-04T10:00:00+00:00");
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
    let other = sale.books.customer("BR").await;
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
async fn payment_rejects_future_receipt() {
    let sale = sale().await;
    let later = chrono::Utc::now().date_naive() + chrono::Days::new(2);
    let body = payment_body(&sale.customer, "10.00", &later.to_string());
    let problem = rejected(&sale, "/v1/payments", &body, "invalid_field", "received_on").await;
    assert_eq!(problem["value"], later.to_string());
}

#[tokio::test]
async fn commission_statement_rejects_currency_outside_agreement() {
    let sale = sale().await;
    let body = json!({
        "partner_id": sale.partner,
        "currency": "JPY",
        "period": "2026-10",
        "issued_at": "2026-11-01T08:00:00Z",
    });
    let count = sale.books.count("commission_statements").await;
    let path = "/v1/commission-statements";
    let problem = rejected(&sale, path, &body, "currency_not_allowed", "currency").await;
    assert_eq!(problem["value"], "JPY");
    assert_eq!(sale.books.count("commission_statements").await, count);
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
async fn agreement_rejects_amounts_as_numbers() {
    let sale = sale().await;
    for (map, value) in [("fixed_fees", json!(0.1)), ("minimum_payouts", json!(25))] {
        let mut terms = agreement("agent", "0.10", "refunded");
        terms[map] = json!({ "EUR": value });
        let mut body = crate::billing_support::party_body("partner", "Seller", "FR", true, None);
        body["agreement"] = terms;
        let field = format!("agreement.{map}.EUR");
        let problem = rejected(&sale, "/v1/parties", &body, "invalid_field", &field).await;
        assert_eq!(problem["value"], value, "{map}");
    }
}

/// Creates a party with a domicile in `country`, optionally in `subdivision`.
async fn party_in(books: &Books, role: &str, country: &str, subdivision: Option<&str>) -> String {
    let mut body = crate::billing_support::party_body(role, "Party", country, false, None);
    body["domicile"]["subdivision"] = json!(subdivision);
    if role == "partner" {
        body["business"] = json!(true);
        body["agreement"] = agreement("agent", "0.10", "refunded");
    }
    books.create("/v1/parties", &body).await["id"].as_str().unwrap().to_string()
}

/// The tax engine's errors about a party's domicile name the request field with the party's
/// id, never a field of the engine's own input.
#[tokio::test]
async fn invoice_names_party_behind_tax_error() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let at = "2026-10-06T10:00:00Z";
    // (subdivision, code, words in the detail)
    let cases = [
        (Some("XX"), "unknown_jurisdiction", "customer's domicile subdivision"),
        (None, "invalid_field", "customer's domicile subdivision"),
        (Some("BC"), "tax_rule_missing", "customer's domicile subdivision"),
    ];
    for (subdivision, code, detail) in cases {
        let customer = party_in(&books, "customer", "CA", subdivision).await;
        let body = invoice_body(&customer, &partner, at, &["10.00"]);
        let problem = rejected_by(&books, "/v1/invoices", &body, code, "customer_id").await;
        assert_eq!(problem["value"], customer.as_str(), "{subdivision:?}");
        let text = problem["detail"].as_str().unwrap();
        assert!(text.contains(detail), "{subdivision:?}: {text}");
    }
}

#[tokio::test]
async fn invoice_names_partner_behind_commission_tax_error() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = party_in(&books, "partner", "CA", None).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-06T10:00:00Z", &["10.00"]);
    let problem = rejected_by(&books, "/v1/invoices", &body, "invalid_field", "seller_id").await;
    assert_eq!(problem["value"], partner.as_str());
    let text = problem["detail"].as_str().unwrap();
    assert!(text.contains("partner's domicile subdivision"), "{text}");
}

#[tokio::test]
async fn invoice_names_line_behind_missing_tax_rule() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("GB").await;
    let mut body =
        invoice_body(&customer, &partner, "2026-10-06T10:00:00Z", &["1.00", "2.00", "3.00"]);
    body["lines"][2]["tax_code"] = json!("physical_good");
    let problem =
        rejected_by(&books, "/v1/invoices", &body, "tax_rule_missing", "lines[2].tax_code").await;
    assert_eq!(problem["value"], "physical_good");
}

#[tokio::test]
async fn invoice_names_issued_at_behind_missing_rate() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("IT").await;
    let at = "2019-06-05T10:00:00Z";
    let body = invoice_body(&customer, &partner, at, &["10.00"]);
    let problem =
        rejected_by(&books, "/v1/invoices", &body, "tax_rate_not_found", "issued_at").await;
    assert_eq!(problem["value"], "2019-06-05T10:00:00+00:00");
}

/// A closed month rejects documents dated in it, naming the request field that dates each.
#[tokio::test]
async fn documents_in_closed_period_name_their_date() {
    let sale = sale().await;
    let paid = payment_body(&sale.customer, "100.00", "2026-10-06");
    sale.books.create("/v1/payments", &paid).await;
    let app = &sale.books.app;
    let close = app.post("/v1/periods/2026-10/close", &app.write_key, "close", &json!({})).await;
    assert_eq!(close.status, 200, "{}", close.body);

    let body = invoice_body(&sale.customer, &sale.partner, "2026-10-07T10:00:00Z", &["1.00"]);
    let problem = rejected(&sale, "/v1/invoices", &body, "period_closed", "issued_at").await;
    assert_eq!(problem["value"], "2026-10-07");
    let body = payment_body(&sale.customer, "10.00", "2026-10-08");
    rejected(&sale, "/v1/payments", &body, "period_closed", "received_on").await;
    let body = json!({ "invoice_id": sale.invoice, "issued_at": "2026-10-09T10:00:00Z" });
    rejected(&sale, "/v1/credit-notes", &body, "period_closed", "issued_at").await;
    let body = json!({ "as_of": "2026-10-31" });
    rejected(&sale, "/v1/payout-runs", &body, "period_closed", "as_of").await;
}

/// An amount beyond the ledger's limit names the request field that carries it, not the line
/// of the journal entry.
#[tokio::test]
async fn amount_beyond_ledger_limit_names_request_field() {
    let sale = sale().await;
    let huge = "1000000000000000.00";
    let body = payment_body(&sale.customer, huge, "2026-10-06");
    let problem = rejected(&sale, "/v1/payments", &body, "amount_out_of_range", "amount").await;
    assert_eq!(problem["value"], huge);
    let body = invoice_body(&sale.customer, &sale.partner, "2026-10-06T10:00:00Z", &[huge]);
    let problem = rejected(&sale, "/v1/invoices", &body, "amount_out_of_range", "lines[0]").await;
    assert_eq!(problem["value"], format!("1 × {huge}"));
}

#[tokio::test]
async fn party_rejects_unknown_country() {
    let sale = sale().await;
    let body = crate::billing_support::party_body("customer", "Buyer", "XX", false, None);
    let problem =
        rejected(&sale, "/v1/parties", &body, "unknown_jurisdiction", "domicile.country").await;
    assert_eq!(problem["value"], "XX");
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

/// Sends one failing request per billing error code for the error table's snapshot test and
/// returns the responses with the generated values to redact from their bodies.
pub async fn error_cases(
) -> (Vec<(subledger::error::ErrorCode, crate::helpers::Response)>, Vec<String>) {
    use subledger::error::ErrorCode::*;
    let empty = Books::open_without_platform().await;
    let customer = empty.customer("BR").await;
    let seller = empty.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let body = invoice_body(&customer, &seller, "2026-10-06T10:00:00Z", &["1.00"]);
    let mut cases = vec![(PlatformNotConfigured, empty.post("/v1/invoices", &body).await)];

    let sale = sale().await;
    let (books, stranger) = (&sale.books, uuid::Uuid::now_v7().to_string());
    let at = "2026-10-06T10:00:00Z";
    let body = invoice_body(&stranger, &sale.partner, at, &["1.00"]);
    cases.push((UnknownParty, books.post("/v1/invoices", &body).await));
    let vat =
        crate::billing_support::party_body("customer", "Buyer", "DE", true, Some("DE13669597"));
    cases.push((InvalidVatId, books.post("/v1/parties", &vat).await));
    let mut body = invoice_body(&sale.customer, &sale.partner, at, &["1.00"]);
    body["currency"] = json!("USD");
    cases.push((CurrencyNotAllowed, books.post("/v1/invoices", &body).await));
    let mut body = invoice_body(&sale.customer, &sale.partner, at, &["1.00"]);
    body["lines"][0]["currency"] = json!("USD");
    cases.push((CurrencyMismatch, books.post("/v1/invoices", &body).await));
    let body = invoice_body(&sale.customer, &sale.partner, "2026-10-01T10:00:00Z", &["1.00"]);
    cases.push((IssuedBeforeSeriesLast, books.post("/v1/invoices", &body).await));
    let body = json!({ "invoice_id": stranger, "issued_at": at });
    cases.push((UnknownInvoice, books.post("/v1/credit-notes", &body).await));
    let lines = json!([{ "line_no": 1, "amount": "100.01" }]);
    let body = json!({ "invoice_id": sale.invoice, "issued_at": at, "lines": lines });
    cases.push((CreditAboveResidual, books.post("/v1/credit-notes", &body).await));
    let other = books.customer("BR").await;
    let mut body = payment_body(&other, "10.00", "2026-10-06");
    body["allocations"] = json!([{ "invoice_id": sale.invoice, "amount": "10.00" }]);
    cases.push((AllocationNotOpen, books.post("/v1/payments", &body).await));
    let mut body = payment_body(&sale.customer, "150.00", "2026-10-06");
    body["allocations"] = json!([{ "invoice_id": sale.invoice, "amount": "100.01" }]);
    cases.push((AllocationAboveOpenAmount, books.post("/v1/payments", &body).await));
    let statement = json!({
        "partner_id": sale.partner,
        "currency": "EUR",
        "period": "2026-10",
        "issued_at": "2026-11-01T08:00:00Z",
    });
    books.create("/v1/commission-statements", &statement).await;
    let again = books.post("/v1/commission-statements", &statement).await;
    cases.push((CommissionStatementExists, again));
    let today = chrono::Utc::now().date_naive();
    let tomorrow = (today + chrono::Days::new(1)).to_string();
    let body = json!({ "as_of": tomorrow });
    cases.push((PayoutDateInFuture, books.post("/v1/payout-runs", &body).await));

    let ids = vec![
        stranger,
        sale.invoice.clone(),
        customer,
        sale.customer.clone(),
        other,
        tomorrow,
        today.to_string(),
    ];
    (cases, ids)
}

#[tokio::test]
async fn invoice_rejects_future_issue_instant() {
    let sale = sale().await;
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let body = invoice_body(&sale.customer, &sale.partner, &later.to_string(), &["10.00"]);
    let problem = rejected(&sale, "/v1/invoices", &body, "invalid_field", "issued_at").await;
    assert!(problem["value"].as_str().unwrap().starts_with(&later.to_string()[..10]));

    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = invoice_body(&sale.customer, &sale.partner, &now, &["10.00"]);
    let accepted = sale.books.post("/v1/invoices", &body).await;
    assert_eq!(accepted.status, 201, "{}", accepted.body);
}

/// An account opened by hand under the code of a platform tax account, with another kind, is
/// not used as the platform's. The invoice that needs it is rejected and nothing is written.
#[tokio::test]
async fn invoice_rejects_conflicting_platform_account() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let conflicting = json!({
        "code": "tax_payable:FR.EUR", "name": "Not tax", "kind": "asset", "currency": "EUR",
    });
    assert_eq!(books.post("/v1/accounts", &conflicting).await.status, 201);
    let tables = ["journal_entries", "invoices", "tax_determinations"];
    let mut before = Vec::new();
    for table in tables {
        before.push(books.count(table).await);
    }
    // The French partner's commission carries French VAT, owed by the platform.
    let body = invoice_body(&customer, &partner, "2026-10-06T10:00:00Z", &["10.00"]);
    let response = books.post("/v1/invoices", &body).await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["code"], "account_conflict", "{}", response.body);
    assert_eq!(response.body["value"], "tax_payable:FR.EUR", "{}", response.body);
    for (table, count) in tables.iter().zip(before) {
        assert_eq!(books.count(table).await, count, "{table} changed");
    }
}

/// A remembered platform account that is gone (here deleted by hand) costs the next invoice a
/// 503, which is not stored, and its retry opens the account again.
#[tokio::test]
async fn missing_remembered_account_is_retryable() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let app = &books.app;
    let revenue = json!({
        "code": "commission_revenue.EUR", "name": "Commission revenue", "kind": "revenue",
        "currency": "EUR",
    });
    assert_eq!(books.post("/v1/accounts", &revenue).await.status, 201);

    // An invoice in a closed period reads the account, so it is remembered, and is rejected
    // before it posts to it, so that the account can be deleted.
    let close = app.post("/v1/periods/2026-09/close", &app.write_key, "close", &json!({})).await;
    assert_eq!(close.status, 200, "{}", close.body);
    let closed = invoice_body(&customer, &partner, "2026-09-15T10:00:00Z", &["10.00"]);
    let rejected = app.post("/v1/invoices", &app.write_key, "in-closed", &closed).await;
    assert_eq!(rejected.status, 422, "{}", rejected.body);
    let client = app.sql().await;
    let deleted = client
        .execute(
            "DELETE FROM accounts WHERE tenant_id = $1 AND code = 'commission_revenue.EUR'",
            &[&app.tenant_id],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);

    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let first = app.post("/v1/invoices", &app.write_key, "after-delete", &body).await;
    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(first.body["code"], "service_unavailable");
    let retry = app.post("/v1/invoices", &app.write_key, "after-delete", &body).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert!(retry.headers.get("idempotent-replayed").is_none());
    assert_eq!(books.count("invoices").await, 1);
}
