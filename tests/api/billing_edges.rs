//! Edges of billing input: lines and credits near the limits of decimal arithmetic, credits by
//! quantity, and agreement changes raced by invoices, replayed, or sent by another tenant or
//! with the read-only key.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::billing_support::{agreement, Books};

/// Opens a FR platform with a FR partner selling to a customer in `customer_country`.
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
/// and the service keeps responding.
#[tokio::test]
async fn lines_beyond_ledger_limit_are_rejected() {
    let mut terms = agreement("agent", "0.10", "refunded");
    terms["fixed_fees"] = json!({ "EUR": "0.10" });
    let (books, partner, customer) = books(terms, "BR").await;
    let max = "79228162514264337593543950335";
    let half = "40000000000000000000000000000";
    let cases = [
        (vec![line("100000000000000", "100")], "lines[0]"),
        (vec![line(max, "2")], "lines[0]"),
        (vec![line(max, "0")], "lines[0].quantity"),
        (vec![line("1", "1"), line(half, "1"), line(half, "1")], "lines[1]"),
        (vec![line("99999999999999.999999", "99999999999999.999999")], "lines[0]"),
    ];
    for (lines, field) in cases {
        let body = invoice(&customer, &partner, lines);
        let response = books.post("/v1/invoices", &body).await;
        assert_eq!(response.status, 422, "{body}: {}", response.body);
        assert_eq!(response.body["code"], "amount_out_of_range", "{body}: {}", response.body);
        assert_eq!(response.body["field"], field, "{body}: {}", response.body);
    }
    let body = invoice(&customer, &partner, vec![line("100000000000000", "100")]);
    let response = books.post("/v1/invoices", &body).await;
    assert_eq!(response.body["value"], "100000000000000 × 100");
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

/// Another tenant's key finds no partner behind the id, and the read-only key cannot change
/// an agreement; neither writes a version.
#[tokio::test]
async fn agreement_change_needs_own_tenant_write_key() {
    let (books, partner, _) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    let (_, other_key) = books.app.other_tenant("Other").await;
    let mut body = agreement("agent", "0.20", "refunded");
    body["effective_from"] = json!("2027-01-01");
    let path = format!("/v1/parties/{partner}/agreements");
    let app = &books.app;
    let other_post = app.post(&path, &other_key, &Uuid::now_v7().to_string(), &body).await;
    assert_eq!(other_post.status, 404, "{}", other_post.body);
    let other_get = app.get(&path, &other_key).await;
    assert_eq!(other_get.status, 404, "{}", other_get.body);
    let read_only = app.post(&path, &app.read_key, &Uuid::now_v7().to_string(), &body).await;
    assert_eq!(read_only.status, 403, "{}", read_only.body);
    assert_eq!(read_only.body["code"], "read_only_key");
    assert_eq!(books.count("partner_agreements").await, 1);
}

/// A replayed change returns the stored version even after a later change, and adds none.
#[tokio::test]
async fn replayed_agreement_change_adds_no_version() {
    let (books, partner, _) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    let path = format!("/v1/parties/{partner}/agreements");
    let mut first = agreement("agent", "0.20", "refunded");
    first["effective_from"] = json!("2027-01-01");
    let key = Uuid::now_v7().to_string();
    let app = &books.app;
    let created = app.post(&path, &app.write_key, &key, &first).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let mut second = agreement("agent", "0.25", "refunded");
    second["effective_from"] = json!("2027-02-01");
    books.create(&path, &second).await;
    let replay = app.post(&path, &app.write_key, &key, &first).await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.body, created.body);
    assert_eq!(books.count("partner_agreements").await, 3);
}

/// An agreement change and an invoice dated on its `effective_from` day, sent together: either
/// the invoice is priced by the new version, or the change is rejected. No invoice of that day
/// keeps the old rate while the new version takes effect.
#[tokio::test]
async fn same_day_change_and_invoice_agree() {
    let (books, _, customer) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    for round in 0..6 {
        let partner = books
            .partner("FR", Some("FR40303265045"), agreement("agent", "0.10", "refunded"))
            .await;
        let mut change = agreement("agent", "0.20", "refunded");
        change["effective_from"] = json!("2026-10-05");
        let body = invoice(&customer, &partner, vec![line("1", "100.00")]);
        let path = format!("/v1/parties/{partner}/agreements");
        let (changed, invoiced) =
            tokio::join!(books.post(&path, &change), books.post("/v1/invoices", &body));
        assert_eq!(invoiced.status, 201, "round {round}: {}", invoiced.body);
        let commission = &invoiced.body["commission"]["amount"];
        if changed.status == 201 {
            assert_eq!(commission, "20.00", "round {round}: {}", invoiced.body);
        } else {
            assert_eq!(changed.body["code"], "effective_from_too_early", "{}", changed.body);
            assert_eq!(commission, "10.00", "round {round}: {}", invoiced.body);
        }
    }
}

/// Credits by quantity stop at the invoiced quantity, also after a credit by amount, and in
/// JPY they round half-up to the yen.
#[tokio::test]
async fn credits_by_quantity_stop_at_invoiced_quantity() {
    let mut terms = agreement("agent", "0.10", "refunded");
    terms["currencies"] = json!(["EUR", "JPY"]);
    let (books, partner, customer) = books(terms, "BR").await;
    let mut body = invoice(&customer, &partner, vec![line("2.5", "99")]);
    body["currency"] = json!("JPY");
    let issued = books.create("/v1/invoices", &body).await;
    assert_eq!(issued["net_total"], "248");
    let credit = |quantity: &str, day: u32| {
        json!({ "invoice_id": issued["id"], "issued_at": format!("2026-10-{day:02}T10:00:00Z"),
                "lines": [{ "line_no": 1, "quantity": quantity }] })
    };
    let first = books.create("/v1/credit-notes", &credit("1.25", 6)).await;
    assert_eq!(first["net"], "124", "{first}");

    let too_much = books.post("/v1/credit-notes", &credit("1.250001", 7)).await;
    assert_eq!(too_much.status, 422, "{}", too_much.body);
    assert_eq!(too_much.body["code"], "credit_above_residual");
    assert_eq!(too_much.body["field"], "lines[0].quantity");
    let seventh = books.post("/v1/credit-notes", &credit("0.0000001", 7)).await;
    assert_eq!(seventh.status, 422, "{}", seventh.body);
    assert_eq!(seventh.body["field"], "lines[0].quantity");
    let zero = books.post("/v1/credit-notes", &credit("0", 7)).await;
    assert_eq!(zero.status, 422, "{}", zero.body);

    let by_amount = json!({ "invoice_id": issued["id"], "issued_at": "2026-10-08T10:00:00Z",
                            "lines": [{ "line_no": 1, "amount": "100" }] });
    books.create("/v1/credit-notes", &by_amount).await;
    let rest = books.create("/v1/credit-notes", &credit("1.25", 9)).await;
    assert_eq!(rest["net"], "24", "{rest}");
    let after = books.get(&format!("/v1/invoices/{}", issued["id"].as_str().unwrap())).await;
    assert_eq!(after["lines"][0]["credited_net"], "248", "{after}");
    assert_eq!(after["status"], "credited", "{after}");
    let more = books.post("/v1/credit-notes", &credit("0.5", 10)).await;
    assert_eq!(more.status, 422, "{}", more.body);
    assert_eq!(more.body["code"], "credit_above_residual");
}

/// A credit note follows the refund policy of the version that priced its invoice, even when
/// a later version, in effect on the credit's date, keeps the commission.
#[tokio::test]
async fn credit_keeps_invoice_refund_policy() {
    let (books, partner, customer) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    let body = invoice(&customer, &partner, vec![line("1", "100.00")]);
    let first = books.create("/v1/invoices", &body).await;
    let mut kept = agreement("agent", "0.10", "kept");
    kept["effective_from"] = json!("2026-10-06");
    books.create(&format!("/v1/parties/{partner}/agreements"), &kept).await;

    let credit = json!({ "invoice_id": first["id"], "issued_at": "2026-10-07T10:00:00Z" });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["commission"], "10.00", "{note}");
    assert_eq!(note["partner_cost"], "88.00", "{note}");

    let mut body = invoice(&customer, &partner, vec![line("1", "100.00")]);
    body["issued_at"] = json!("2026-10-08T10:00:00Z");
    let second = books.create("/v1/invoices", &body).await;
    let credit = json!({ "invoice_id": second["id"], "issued_at": "2026-10-09T10:00:00Z" });
    let note = books.create("/v1/credit-notes", &credit).await;
    assert_eq!(note["commission"], "0.00", "{note}");
    assert_eq!(note["partner_cost"], "100.00", "{note}");
}

/// A supplier partner's invoices are issued by the platform, so the issue date and the earliest
/// change date follow the platform's time zone, not the partner's.
#[tokio::test]
async fn supplier_change_follows_platform_date() {
    let (books, _, customer) = books(agreement("agent", "0.10", "refunded"), "BR").await;
    let tokyo = json!({ "role": "partner", "name": "Tokyo partner", "business": true,
        "domicile": { "country": "JP", "time_zone": "Asia/Tokyo" },
        "agreement": agreement("supplier", "0.10", "refunded") });
    let partner = books.create("/v1/parties", &tokyo).await;
    let partner = partner["id"].as_str().unwrap();
    let mut body = invoice(&customer, partner, vec![line("1", "100.00")]);
    body["issued_at"] = json!("2026-10-05T20:00:00Z");
    let issued = books.create("/v1/invoices", &body).await;
    assert_eq!(issued["issue_date"], "2026-10-05", "{issued}");

    let path = format!("/v1/parties/{partner}/agreements");
    let mut same_day = agreement("supplier", "0.20", "refunded");
    same_day["effective_from"] = json!("2026-10-05");
    let rejected = books.post(&path, &same_day).await;
    assert_eq!(rejected.status, 422, "{}", rejected.body);
    assert_eq!(rejected.body["code"], "effective_from_too_early");

    let mut next_day = agreement("supplier", "0.20", "refunded");
    next_day["effective_from"] = json!("2026-10-06");
    let changed = books.post(&path, &next_day).await;
    assert_eq!(changed.status, 201, "{}", changed.body);
}
