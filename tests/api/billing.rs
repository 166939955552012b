//! Billing documents over HTTP: the worked examples of the marketplace posting rules.

use serde_json::json;
use tokio_postgres::error::SqlState;

use crate::billing_support::{account, agreement, dec, invoice_body, payment_body, Books};

/// Agent model: FR platform, VAT-registered DE partner, IT consumer, 10.00 net.
#[tokio::test]
async fn agent_sale_commission_payment_and_payout() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("IT").await;

    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["total"], "12.20");
    assert_eq!(invoice["tax_total"], "2.20");
    assert_eq!(invoice["taxes"][0]["jurisdiction"], "IT");
    assert_eq!(invoice["taxes"][0]["liable"], "partner");
    assert_eq!(invoice["commission"]["amount"], "1.50");
    assert_eq!(invoice["commission"]["tax"], "0.00");
    assert!(invoice["commission"]["legal_mention"].as_str().unwrap().contains("Reverse charge"));
    assert_eq!(invoice["partner_share"], "10.70");
    assert_eq!(invoice["status"], "open");

    let receivable = account("receivable", &customer);
    let payable = account("partner_payable", &partner);
    assert_eq!(books.balance(&receivable).await, dec("12.20"));
    assert_eq!(books.balance(&payable).await, dec("-10.70"));
    assert_eq!(books.balance("commission_revenue.EUR").await, dec("-1.50"));

    let payment =
        books.create("/v1/payments", &payment_body(&customer, "12.20", "2026-10-06")).await;
    assert_eq!(payment["allocations"][0]["residual"], "0.00");
    assert_eq!(payment["unapplied"], "0.00");
    assert_eq!(books.balance(&receivable).await, dec("0.00"));
    assert_eq!(books.balance("cash_clearing.EUR").await, dec("12.20"));

    let run = books.create("/v1/payout-runs", &json!({ "as_of": "2026-10-31" })).await;
    assert_eq!(run["lines"][0]["outcome"], "paid");
    assert_eq!(run["lines"][0]["paid"], "10.70");
    assert_eq!(books.balance(&payable).await, dec("0.00"));
    assert_eq!(books.balance("cash_clearing.EUR").await, dec("1.50"));
}

/// Platform as supplier for tax: IE platform, US partner, HU consumer, 10.00 net.
#[tokio::test]
async fn supplier_sale_posts_platform_tax() {
    let books = Books::open("IE", Some("IE6388047V")).await;
    let partner = books.partner("US", None, agreement("supplier", "0.15", "refunded")).await;
    let customer = books.customer("HU").await;

    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["total"], "12.70");
    assert_eq!(invoice["taxes"][0]["jurisdiction"], "HU");
    assert_eq!(invoice["taxes"][0]["amount"], "2.70");
    assert_eq!(invoice["taxes"][0]["liable"], "platform");
    assert_eq!(invoice["commission"]["amount"], "1.50");
    assert_eq!(invoice["partner_share"], "8.50");
    assert_eq!(invoice["issuer_id"], books.platform.as_str());

    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("12.70"));
    assert_eq!(books.balance("tax_payable:HU.EUR").await, dec("-2.70"));
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("-8.50"));
    assert_eq!(books.balance("commission_revenue.EUR").await, dec("-1.50"));
}

/// Tax on the invoice total, then one credit note per line; the last takes the residue.
#[tokio::test]
async fn credits_per_line_return_every_account_to_zero() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("supplier", "0.15", "refunded")).await;
    let customer = books.customer("FR").await;
    let prices = ["68.33", "68.33", "57.50", "85.00"];
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &prices);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["tax_total"], "55.83");
    assert_eq!(invoice["total"], "334.99");
    let invoice_id = invoice["id"].as_str().unwrap();

    let mut tax_reversed = dec("0");
    let expected = [(1, "82.00"), (3, "69.00"), (4, "102.00"), (2, "81.99")];
    for (day, (line_no, total)) in expected.iter().enumerate() {
        let body = json!({
            "invoice_id": invoice_id,
            "issued_at": format!("2026-10-{:02}T09:00:00Z", 10 + day),
            "lines": [{ "line_no": line_no }],
        });
        let note = books.create("/v1/credit-notes", &body).await;
        assert_eq!(note["total"], *total, "credit of line {line_no}");
        tax_reversed += dec(note["tax"].as_str().unwrap());
    }
    assert_eq!(tax_reversed, dec("55.83"));
    assert_eq!(books.balance("tax_payable:FR.EUR").await, dec("0.00"));
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("0.00"));
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("0.00"));
    assert_eq!(books.balance("commission_revenue.EUR").await, dec("0.00"));
    let invoice = books.get(&format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(invoice["status"], "credited");
    assert_eq!(invoice["residual"], "0.00");
}

/// A partial payment leaves a residual; a second payment clears it.
#[tokio::test]
async fn partial_payment_leaves_residual() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["total"], "100.00");
    let path = format!("/v1/invoices/{}", invoice["id"].as_str().unwrap());

    books.create("/v1/payments", &payment_body(&customer, "50.00", "2026-10-06")).await;
    let after_first = books.get(&path).await;
    assert_eq!(after_first["residual"], "50.00");
    assert_eq!(after_first["status"], "partially_paid");

    books.create("/v1/payments", &payment_body(&customer, "50.00", "2026-10-07")).await;
    let after_second = books.get(&path).await;
    assert_eq!(after_second["residual"], "0.00");
    assert_eq!(after_second["status"], "paid");
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("0.00"));
}

/// Sells `net` on `date` to `customer`, pays it the next day and returns the invoice id.
async fn paid_sale(books: &Books, customer: &str, partner: &str, net: &str, day: &str) -> String {
    let issued_at = format!("{day}T10:00:00Z");
    let invoice =
        books.create("/v1/invoices", &invoice_body(customer, partner, &issued_at, &[net])).await;
    let total = invoice["total"].as_str().unwrap();
    books.create("/v1/payments", &payment_body(customer, total, day)).await;
    invoice["id"].as_str().unwrap().to_string()
}

async fn run_payouts(books: &Books, as_of: &str) -> serde_json::Value {
    let run = books.create("/v1/payout-runs", &json!({ "as_of": as_of })).await;
    run["lines"][0].clone()
}

/// A refund after a payout is netted against the next month's cleared sales.
#[tokio::test]
async fn refund_after_payout_reduces_next_payout() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    // 20% commission without tax (an EU reverse charge): a 125.00 sale leaves the
    // partner 100.00, a 250.00 sale 200.00.
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.20", "refunded")).await;
    let (october_buyer, november_buyer) = (books.customer("BR").await, books.customer("BR").await);

    let october = paid_sale(&books, &october_buyer, &partner, "125.00", "2026-10-05").await;
    let line = run_payouts(&books, "2026-10-31").await;
    assert_eq!(line["paid"], "100.00");

    // Crediting 112.50 net also gives back 22.50 commission: the refund costs the partner 90.00.
    let credit = json!({
        "invoice_id": october,
        "issued_at": "2026-11-10T09:00:00Z",
        "lines": [{ "line_no": 1, "amount": "112.50" }],
    });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["partner_cost"], "90.00");
    assert_eq!(note["to_customer_credit"], "112.50");
    paid_sale(&books, &november_buyer, &partner, "250.00", "2026-11-12").await;

    let line = run_payouts(&books, "2026-11-30").await;
    assert_eq!(line["outcome"], "paid");
    assert_eq!(line["paid"], "110.00");
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("0.00"));
}

/// A refund larger than the month's sales leaves the partner owing; nothing is paid.
#[tokio::test]
async fn negative_balance_is_carried_forward() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.20", "refunded")).await;
    let buyers =
        [books.customer("BR").await, books.customer("BR").await, books.customer("BR").await];

    // Paid out 250.00 in September and 100.00 in October.
    let september = paid_sale(&books, &buyers[0], &partner, "312.50", "2026-09-05").await;
    assert_eq!(run_payouts(&books, "2026-09-30").await["paid"], "250.00");
    paid_sale(&books, &buyers[1], &partner, "125.00", "2026-10-05").await;
    assert_eq!(run_payouts(&books, "2026-10-31").await["paid"], "100.00");

    // November: a refund costing the partner 250.00 and new sales worth 200.00 to it.
    let credit = json!({ "invoice_id": september, "issued_at": "2026-11-10T09:00:00Z" });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["partner_cost"], "250.00");
    paid_sale(&books, &buyers[2], &partner, "250.00", "2026-11-12").await;

    let line = run_payouts(&books, "2026-11-30").await;
    assert_eq!(line["outcome"], "carried_forward");
    assert_eq!(line["balance"], "-50.00");
    assert!(line["paid"].is_null());
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("50.00"));
    let statement = books.get(&format!("/v1/partners/{partner}/statement")).await;
    let november = statement["months"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(november["period"], "2026-11");
    assert_eq!(november["balance"], "-50.00");
}

/// An overpayment goes to the customer's credit and the next invoice uses it.
#[tokio::test]
async fn overpayment_is_used_by_next_invoice() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let first = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["12.00"]);
    books.create("/v1/invoices", &first).await;

    let payment =
        books.create("/v1/payments", &payment_body(&customer, "20.00", "2026-10-06")).await;
    assert_eq!(payment["unapplied"], "8.00");
    let credit_account = account("customer_credit", &customer);
    assert_eq!(books.balance(&credit_account).await, dec("-8.00"));

    let second = invoice_body(&customer, &partner, "2026-10-07T10:00:00Z", &["5.00"]);
    let invoice = books.create("/v1/invoices", &second).await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["paid_total"], "5.00");
    assert_eq!(books.balance(&credit_account).await, dec("-3.00"));
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("0.00"));
}

/// Commission tiers follow the partner's revenue of the year.
#[tokio::test]
async fn commission_tier_changes_with_year_revenue() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let mut terms = agreement("agent", "0.15", "refunded");
    terms["commission_tiers"] = json!([
        { "up_to": "1000.00", "rate": "0.15" },
        { "up_to": null, "rate": "0.30" },
    ]);
    let partner = books.partner("FR", None, terms).await;
    let customer = books.customer("BR").await;
    let first = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["900.00"]);
    assert_eq!(books.create("/v1/invoices", &first).await["commission"]["amount"], "135.00");
    // 100.00 at 15% and 100.00 at 30%.
    let second = invoice_body(&customer, &partner, "2026-10-06T10:00:00Z", &["200.00"]);
    assert_eq!(books.create("/v1/invoices", &second).await["commission"]["amount"], "45.00");
}

/// Numbers are gapless per issuer and series, and a rejected invoice takes no number.
#[tokio::test]
async fn numbers_are_gapless_per_issuer() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let first = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let second =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let sell = |partner: &str, at: &str| invoice_body(&customer, partner, at, &["10.00"]);

    let a = books.create("/v1/invoices", &sell(&first, "2026-10-05T10:00:00Z")).await;
    let bad = books.post("/v1/invoices", &sell(&first, "2026-10-04T10:00:00Z")).await;
    assert_eq!(bad.body["code"], "issued_before_series_last");
    let b = books.create("/v1/invoices", &sell(&first, "2026-10-06T10:00:00Z")).await;
    let c = books.create("/v1/invoices", &sell(&second, "2026-10-06T10:00:00Z")).await;
    assert_eq!(a["number"], "INV-2026-000001");
    assert_eq!(b["number"], "INV-2026-000002");
    assert_eq!(c["number"], "INV-2026-000001");
}

/// A retried invoice request posts once.
#[tokio::test]
async fn retried_invoice_posts_once() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let app = &books.app;
    let first = app.post("/v1/invoices", &app.write_key, "retry-1", &body).await;
    let second = app.post("/v1/invoices", &app.write_key, "retry-1", &body).await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(books.count("invoices").await, 1);
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("10.00"));
}

/// A retried invoice gets back the exact bytes of the first response.
#[tokio::test]
async fn replayed_invoice_is_the_same_text() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00", "2.50"]);
    let app = &books.app;
    let send = || {
        app.client
            .post(format!("{}/v1/invoices", app.address))
            .bearer_auth(&app.write_key)
            .header("Idempotency-Key", "same-text")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first = first.text().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.text().await.unwrap(), first);
}

/// A retry gets the stored response, marked as replayed.
#[tokio::test]
async fn retried_payment_is_marked_replayed() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let customer = books.customer("BR").await;
    let body = payment_body(&customer, "10.00", "2026-10-06");
    let app = &books.app;
    let first = app.post("/v1/payments", &app.write_key, "pay-1", &body).await;
    let second = app.post("/v1/payments", &app.write_key, "pay-1", &body).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(books.count("payments").await, 1);
    assert_eq!(books.balance(&account("customer_credit", &customer)).await, dec("-10.00"));
}

/// Another tenant can neither read nor use this tenant's documents and parties.
#[tokio::test]
async fn tenants_are_isolated() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    let app = &books.app;
    let (_, other_key) = app.other_tenant("Other").await;

    let path = format!("/v1/invoices/{}", invoice["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &other_key).await.status, 404);
    let body = invoice_body(&customer, &partner, "2026-10-06T10:00:00Z", &["10.00"]);
    let response = app.post("/v1/invoices", &other_key, "other-1", &body).await;
    assert_eq!(response.status, 422);
    assert_eq!(response.body["code"], "unknown_party");
}

/// The auditor role reads the billing views.
#[tokio::test]
async fn auditor_reads_billing_views() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    books.create("/v1/invoices", &body).await;

    let (mut client, connection) =
        tokio_postgres::connect(&books.app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_auditor").await.unwrap();
    for view in ["open_items", "aging", "partner_statement", "customer_statement"] {
        let sql = format!("SELECT count(*) FROM audit.{view}");
        let count: i64 = tx.query_one(&sql, &[]).await.unwrap().get(0);
        assert!(count > 0, "audit.{view} is empty");
    }
    let denied = tx.query("SELECT * FROM invoices", &[]).await;
    assert!(denied.is_err(), "the auditor reads only the audit schema");
}

/// The monthly commission statement lists the month's agent sales and credits, with the
/// commission tax of the partner's domicile.
#[tokio::test]
async fn commission_statement_lists_month() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let german =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let french = books.partner("FR", None, agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("IT").await;
    books
        .create(
            "/v1/invoices",
            &invoice_body(&customer, &german, "2026-10-05T10:00:00Z", &["10.00"]),
        )
        .await;
    let refunded = books
        .create(
            "/v1/invoices",
            &invoice_body(&customer, &german, "2026-10-06T10:00:00Z", &["20.00"]),
        )
        .await;
    let credit = json!({ "invoice_id": refunded["id"], "issued_at": "2026-10-07T10:00:00Z" });
    books.create("/v1/credit-notes", &credit).await;
    books
        .create(
            "/v1/invoices",
            &invoice_body(&customer, &french, "2026-10-05T10:00:00Z", &["100.00"]),
        )
        .await;
    // A November sale belongs to the next statement.
    books
        .create(
            "/v1/invoices",
            &invoice_body(&customer, &german, "2026-11-02T10:00:00Z", &["50.00"]),
        )
        .await;

    let request = |partner: &str| {
        json!({
            "partner_id": partner,
            "currency": "EUR",
            "period": "2026-10",
            "issued_at": "2026-11-01T08:00:00Z",
        })
    };
    let statement = books.create("/v1/commission-statements", &request(&german)).await;
    assert_eq!(statement["number"], "COM-2026-000001");
    assert_eq!(statement["issuer_id"], books.platform.as_str());
    assert_eq!(statement["lines"].as_array().unwrap().len(), 3);
    assert_eq!(statement["commission"], "1.50");
    assert_eq!(statement["commission_tax"], "0.00");
    assert_eq!(statement["taxes"][0]["rule"], "eu.b2b.reverse_charge");
    assert!(statement["taxes"][0]["legal_mention"].as_str().unwrap().contains("Reverse charge"));

    let statement = books.create("/v1/commission-statements", &request(&french)).await;
    assert_eq!(statement["number"], "COM-2026-000002");
    assert_eq!(statement["commission"], "15.00");
    assert_eq!(statement["commission_tax"], "3.00");
    assert_eq!(statement["total"], "18.00");
    assert_eq!(statement["taxes"][0]["jurisdiction"], "FR");

    let again = books.post("/v1/commission-statements", &request(&french)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], "commission_statement_exists");
    let mut early = request(&german);
    early["period"] = json!("2026-11");
    let early = books.post("/v1/commission-statements", &early).await;
    assert_eq!(early.status, 422);
    assert_eq!(early.body["field"], "issued_at");
}

/// With tax-inclusive prices the tax is taken out of the price.
#[tokio::test]
async fn tax_inclusive_price_is_split() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("IT").await;
    let mut body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["12.20"]);
    body["prices_include_tax"] = json!(true);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["net_total"], "10.00");
    assert_eq!(invoice["tax_total"], "2.20");
    assert_eq!(invoice["total"], "12.20");
    assert_eq!(invoice["commission"]["amount"], "1.50");
}

/// A credit by quantity takes its share of the line; the last quantity takes the rest.
#[tokio::test]
async fn credit_by_quantity_takes_line_share() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "refunded")).await;
    let customer = books.customer("BR").await;
    let mut body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["3.33"]);
    body["lines"][0]["quantity"] = json!("3");
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["total"], "9.99");
    let credit = |quantity: &str, day: u32| {
        json!({
            "invoice_id": invoice["id"],
            "issued_at": format!("2026-10-{day:02}T10:00:00Z"),
            "lines": [{ "line_no": 1, "quantity": quantity }],
        })
    };
    let first = books.create("/v1/credit-notes", &credit("1", 6)).await;
    assert_eq!(first["total"], "3.33");
    assert_eq!(first["commission"], "0.50");
    let rest = books.create("/v1/credit-notes", &credit("2", 7)).await;
    assert_eq!(rest["total"], "6.66");
    assert_eq!(rest["commission"], "1.00");
    let too_many = books.post("/v1/credit-notes", &credit("1", 8)).await;
    assert_eq!(too_many.body["code"], "credit_above_residual");
    assert_eq!(books.balance("commission_revenue.EUR").await, dec("0.00"));
}

/// When the platform keeps its commission on a refund, the partner bears it.
#[tokio::test]
async fn kept_commission_is_borne_by_partner() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.15", "kept")).await;
    let customer = books.customer("IT").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    let credit = json!({ "invoice_id": invoice["id"], "issued_at": "2026-10-06T10:00:00Z" });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["total"], "12.20");
    assert_eq!(note["commission"], "0.00");
    assert_eq!(note["partner_cost"], "12.20");
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("1.50"));
    assert_eq!(books.balance("commission_revenue.EUR").await, dec("-1.50"));
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("0.00"));
}

/// Checks that POST and GET return the same body for inputs whose scale the database changes.
/// The inputs are an issue instant in nanoseconds, a quantity with trailing zeros, unit prices
/// without cents, a discount, a supplier sale with platform tax, customer credit and an
/// explicit allocation.
#[tokio::test]
async fn created_documents_read_back_unchanged() {
    let books = Books::open("IE", Some("IE6388047V")).await;
    let partner = books.partner("US", None, agreement("supplier", "0.15", "refunded")).await;
    let customer = books.customer("HU").await;
    books.create("/v1/payments", &payment_body(&customer, "3", "2026-10-04")).await;

    let mut body = invoice_body(&customer, &partner, "2026-10-05T10:00:00.123456789Z", &["7"]);
    body["lines"][0]["quantity"] = json!("2.500");
    body["lines"][0]["discount"] = json!("1.5");
    body["due_on"] = json!("2026-11-05");
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["issued_at"], "2026-10-05T10:00:00.123456Z");
    assert_eq!(invoice["lines"][0]["quantity"], "2.5");
    assert_eq!(invoice["paid_total"], "3.00");
    assert_eq!(invoice["status"], "partially_paid");

    let id = invoice["id"].as_str().unwrap();
    let mut payment = payment_body(&customer, "5", "2026-10-06");
    payment["allocations"] = json!([{ "invoice_id": id, "amount": "5" }]);
    let payment = books.create("/v1/payments", &payment).await;
    assert_eq!(payment["allocations"][0]["amount"], "5.00");
}

/// The database's checks on a stored determination's document kind and on a number series'
/// name accept and reject the same values as the patterns `^[a-z][a-z_]{0,39}$` and
/// `^[A-Z0-9]{1,12}$` they replace.
#[tokio::test]
async fn name_checks_match_old_patterns() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    books.create("/v1/invoices", &body).await;

    let (mut client, connection) =
        tokio_postgres::connect(&books.app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let (forty, forty_one) = ("a".repeat(40), "a".repeat(41));
    let underscores = format!("a{}", "_".repeat(39));
    let kinds = [
        ("a", true),
        ("invoice_digital_good", true),
        (forty.as_str(), true),
        (underscores.as_str(), true),
        ("a\n", false),
        (forty_one.as_str(), false),
        ("", false),
        ("_a", false),
        ("a1", false),
        ("Invoice", false),
        ("é", false),
    ];
    let rename_kind = "UPDATE tax_determinations SET document_kind = $1 \
        WHERE id = (SELECT min(id::text)::uuid FROM tax_determinations)";
    assert_check_cases(&mut client, rename_kind, "^[a-z][a-z_]{0,39}$", &kinds).await;

    let series = [
        ("A", true),
        ("ABC123456789", true),
        ("ABC1234567890", false),
        ("", false),
        ("a", false),
        ("A-1", false),
        ("A\n", false),
    ];
    let rename_series = "UPDATE number_series SET series = $1 \
        WHERE (issuer_id, series) = (SELECT issuer_id, series FROM number_series LIMIT 1)";
    assert_check_cases(&mut client, rename_series, "^[A-Z0-9]{1,12}$", &series).await;
}

/// Asserts, for each (value, accepted) case, that `old_pattern` matches the value exactly when
/// it is accepted, and that `update` with the value succeeds exactly then or fails its check.
async fn assert_check_cases(
    client: &mut tokio_postgres::Client,
    update: &str,
    old_pattern: &str,
    cases: &[(&str, bool)],
) {
    for &(value, accepted) in cases {
        let old = client.query_one("SELECT $1 ~ $2", &[&value, &old_pattern]).await;
        let old_accepts: bool = old.unwrap().get(0);
        assert_eq!(old_accepts, accepted, "old pattern {old_pattern}, value {value:?}");

        // Each change is rolled back when its transaction is dropped.
        let tx = client.transaction().await.unwrap();
        let result = tx.execute(update, &[&value]).await;
        assert_eq!(result.is_ok(), accepted, "value {value:?}: {result:?}");
        if let Err(err) = result {
            assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION), "value {value:?}");
        }
    }
}
