//! VAT ids of parties. An id that fails its check digits is kept, and the party is taxed as
//! not VAT-registered. A malformed id is rejected.

use serde_json::{json, Value};

use crate::billing_support::{agreement, invoice_body, party_body, Books};

const FAILING_DE: &str = "DE136695977";
const VALID_DE: &str = "DE136695976";

/// Opens a FR platform with a VAT-registered FR partner that sells as agent.
async fn books_with_partner() -> (Books, String) {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("FR", Some("FR40303265045"), agreement("agent", "0.15", "refunded")).await;
    (books, partner)
}

/// Creates a DE business customer with `vat_id` and returns the created party.
async fn business_customer(books: &Books, vat_id: &str) -> Value {
    let body = party_body("customer", "Kunde GmbH", "DE", true, Some(vat_id));
    books.create("/v1/parties", &body).await
}

/// Reads the stored determination of an invoice's sale for one tax code.
async fn sale_determination(books: &Books, invoice_id: &str) -> Value {
    let client = books.app.sql().await;
    let id = uuid::Uuid::parse_str(invoice_id).unwrap();
    let row = client
        .query_one(
            "SELECT determination FROM tax_determinations WHERE tenant_id = $1 \
             AND document_id = $2 AND document_kind = 'invoice_electronic_service'",
            &[&books.app.tenant_id, &id],
        )
        .await
        .unwrap();
    row.get(0)
}

fn has_reverse_charge(invoice: &Value) -> bool {
    invoice.to_string().contains("Reverse charge")
}

#[tokio::test]
async fn vat_id_is_stored_normalized() {
    let (books, _) = books_with_partner().await;
    let cases = [("de 136.695.976", VALID_DE, "valid"), ("136695977", FAILING_DE, "failed")];
    for (typed, stored, check) in cases {
        let created = business_customer(&books, typed).await;
        assert_eq!(created["vat_id"], stored, "{typed}");
        assert_eq!(created["vat_id_check"], check, "{typed}");
        let read = books.get(&format!("/v1/parties/{}", created["id"].as_str().unwrap())).await;
        assert_eq!(read["vat_id"], stored, "{typed}");
    }
}

#[tokio::test]
async fn failing_vat_id_is_kept_and_shown() {
    let (books, _) = books_with_partner().await;
    let created = business_customer(&books, FAILING_DE).await;
    assert_eq!(created["vat_id"], FAILING_DE);
    assert_eq!(created["vat_id_check"], "failed");
    let read = books.get(&format!("/v1/parties/{}", created["id"].as_str().unwrap())).await;
    assert_eq!(read["vat_id"], FAILING_DE);
    assert_eq!(read["vat_id_check"], "failed");
    assert_eq!(read["business"], true);
    let client = books.app.sql().await;
    let id = uuid::Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    let row = client
        .query_one("SELECT vat_id_check FROM audit.parties WHERE party_id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");

    let valid = business_customer(&books, VALID_DE).await;
    assert_eq!(valid["vat_id_check"], "valid");
    let consumer = books.customer("IT").await;
    let consumer = books.get(&format!("/v1/parties/{consumer}")).await;
    assert!(consumer.get("vat_id_check").is_none(), "{consumer}");
}

#[tokio::test]
async fn failing_vat_id_buys_as_consumer() {
    let (books, partner) = books_with_partner().await;
    let consumer = books.customer("IT").await;
    let business = business_customer(&books, FAILING_DE).await;
    let business = business["id"].as_str().unwrap();

    let body = invoice_body(&consumer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let italian = books.create("/v1/invoices", &body).await;
    assert_eq!(italian["taxes"][0]["jurisdiction"], "IT");
    assert_eq!(italian["taxes"][0]["rule"], "eu.b2c.electronic_services.destination");
    assert_eq!(italian["tax_total"], "2.20");
    assert!(!has_reverse_charge(&italian), "{italian}");

    let body = invoice_body(business, &partner, "2026-10-05T11:00:00Z", &["10.00"]);
    let german = books.create("/v1/invoices", &body).await;
    assert_eq!(german["taxes"][0]["jurisdiction"], "DE");
    assert_eq!(german["taxes"][0]["rule"], "eu.b2c.electronic_services.destination");
    assert_eq!(german["taxes"][0]["liable"], "partner");
    assert_eq!(german["tax_total"], "1.90");
    assert_eq!(german["total"], "11.90");
    assert!(!has_reverse_charge(&german), "{german}");

    let trail = sale_determination(&books, german["id"].as_str().unwrap()).await;
    assert_eq!(trail["buyer_treated_as"], "consumer");
    assert_eq!(trail["buyer_tax_id"], Value::Null);
    assert_eq!(trail["buyer_tax_id_unused"]["tax_id"], FAILING_DE);
    let reason = trail["buyer_tax_id_unused"]["reason"].as_str().unwrap();
    assert!(reason.contains("fails its check digits"), "{reason}");
}

#[tokio::test]
async fn valid_vat_id_gets_reverse_charge() {
    let (books, partner) = books_with_partner().await;
    let business = business_customer(&books, VALID_DE).await;
    let body = invoice_body(
        business["id"].as_str().unwrap(),
        &partner,
        "2026-10-05T10:00:00Z",
        &["10.00"],
    );
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["taxes"][0]["rule"], "eu.b2b.reverse_charge");
    assert_eq!(invoice["taxes"][0]["liable"], "customer");
    assert_eq!(invoice["tax_total"], "0.00");
    assert!(has_reverse_charge(&invoice["taxes"][0]), "{invoice}");

    let trail = sale_determination(&books, invoice["id"].as_str().unwrap()).await;
    assert_eq!(trail["buyer_treated_as"], "business");
    assert_eq!(trail["buyer_tax_id"], VALID_DE);
    assert!(trail.get("buyer_tax_id_unused").is_none(), "{trail}");
}

/// The commission of a partner whose VAT id fails is not reverse charged: the platform charges
/// VAT on it as on a service to a consumer, where the partner is established.
#[tokio::test]
async fn partner_with_failing_vat_id_pays_commission_vat() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some(FAILING_DE), agreement("agent", "0.15", "refunded")).await;
    let party = books.get(&format!("/v1/parties/{partner}")).await;
    assert_eq!(party["vat_id_check"], "failed");
    let customer = books.customer("IT").await;

    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    assert_eq!(invoice["commission"]["amount"], "1.50");
    // 19% of 1.50 is 0.285, half-up 0.29.
    assert_eq!(invoice["commission"]["tax"], "0.29");
    assert!(invoice["commission"].get("legal_mention").is_none(), "{invoice}");
    let commission = invoice["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tax| tax["kind"] == "commission")
        .unwrap()
        .clone();
    assert_eq!(commission["jurisdiction"], "DE");
    assert_eq!(commission["liable"], "platform");
    assert_ne!(commission["rule"], "eu.b2b.reverse_charge");
    assert_eq!(invoice["partner_share"], "10.41");
}

#[tokio::test]
async fn malformed_vat_id_is_rejected() {
    let (books, _) = books_with_partner().await;
    let before = books.count("parties").await;
    // Too short, another country's prefix, a letter among the digits.
    for malformed in ["DE13669597", "FR136695976", "DE13669597X"] {
        let body = party_body("customer", "Kunde GmbH", "DE", true, Some(malformed));
        let response = books.post("/v1/parties", &body).await;
        assert_eq!(response.status, 422, "{malformed}: {}", response.body);
        assert_eq!(response.body["code"], "invalid_vat_id", "{malformed}");
        assert_eq!(response.body["field"], "vat_id", "{malformed}");
        assert_eq!(response.body["value"], json!(malformed), "{malformed}");
    }
    assert_eq!(books.count("parties").await, before);
}
