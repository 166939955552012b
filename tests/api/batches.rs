//! `POST /v1/batches`: one result per document, each document under its own idempotency key.

use serde_json::{json, Value};

use crate::billing_support::{account, agreement, dec, invoice_body, Books};
use crate::helpers::Response;

/// Opens books with one Irish partner (agent, 10% commission) and one German consumer.
async fn shop() -> (Books, String, String) {
    let books = Books::open("IE", Some("IE6388047V")).await;
    let partner = books.partner("IE", None, agreement("agent", "0.10", "kept")).await;
    let customer = books.customer("DE").await;
    (books, partner, customer)
}

fn document(key: &str, body: Value) -> Value {
    json!({"type": "invoice", "idempotency_key": key, "body": body})
}

async fn post_batch(books: &Books, documents: Vec<Value>) -> Response {
    let url = format!("{}/v1/batches", books.app.address);
    let request = books.app.client.post(url).bearer_auth(&books.app.write_key).json(&json!({
        "documents": documents
    }));
    crate::helpers::read_response(request.send().await.expect("POST")).await
}

async fn balance_check_rows(books: &Books) -> i64 {
    let client = books.app.sql().await;
    client.query_one("SELECT count(*) FROM audit.balance_check", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn batch_rejects_one_and_posts_others() {
    let (books, partner, customer) = shop().await;
    let good = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["100.00", "20.00"]);
    let mut bad = good.clone();
    bad["lines"][1]["unit_price"] = json!("-5.00");
    let later = invoice_body(&customer, &partner, "2026-07-01T11:00:00Z", &["50.00"]);
    let documents =
        vec![document("b-1", good), document("b-2", bad), document("b-3", later.clone())];

    let response = post_batch(&books, documents).await;

    assert_eq!(response.status, 200, "{}", response.body);
    let results = response.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[1]["status"], 422);
    assert_eq!(results[1]["body"]["field"], "lines[1].unit_price");
    assert_eq!(results[1]["body"]["value"], "-5.00");
    assert_eq!(results[2]["status"], 201);
    assert_eq!(results[2]["idempotency_key"], "b-3");
    assert_eq!(books.count("invoices").await, 2);
    assert_eq!(books.count("journal_entries").await, 2);
    // 120.00 + 19% German VAT, then 50.00 + 19%.
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("202.30"));
    assert_eq!(balance_check_rows(&books).await, 0);
}

#[tokio::test]
async fn batch_retry_replays_every_document() {
    let (books, partner, customer) = shop().await;
    let first = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let mut bad = first.clone();
    bad["currency"] = json!("XXX");
    let documents = vec![document("r-1", first), document("r-2", bad)];

    let original = post_batch(&books, documents.clone()).await;
    let retry = post_batch(&books, documents).await;

    assert_eq!(original.status, 200, "{}", original.body);
    assert_eq!(retry.status, 200, "{}", retry.body);
    let (before, after) = (&original.body["results"], &retry.body["results"]);
    assert_eq!(after[0]["replayed"], true);
    assert_eq!(after[1]["replayed"], true);
    assert_eq!(after[0]["body"], before[0]["body"]);
    assert_eq!(after[1]["body"], before[1]["body"]);
    assert_eq!(after[1]["status"], 422);
    assert_eq!(books.count("invoices").await, 1);
}

#[tokio::test]
async fn batch_document_replays_single_request() {
    let (books, partner, customer) = shop().await;
    let body = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let alone = books.app.post("/v1/invoices", &books.app.write_key, "same-key", &body).await;
    assert_eq!(alone.status, 201, "{}", alone.body);

    let response = post_batch(&books, vec![document("same-key", body)]).await;

    let result = &response.body["results"][0];
    assert_eq!(result["status"], 201);
    assert_eq!(result["replayed"], true);
    assert_eq!(result["body"]["id"], alone.body["id"]);
    assert_eq!(books.count("invoices").await, 1);
}

#[tokio::test]
async fn batch_key_with_other_body_conflicts() {
    let (books, partner, customer) = shop().await;
    let body = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let other = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["11.00"]);

    let response = post_batch(&books, vec![document("k-1", body), document("k-1", other)]).await;

    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[1]["status"], 409);
    assert_eq!(results[1]["body"]["code"], "idempotency_key_reused");
    assert_eq!(books.count("invoices").await, 1);
}

#[tokio::test]
async fn batch_envelope_is_checked() {
    let (books, partner, customer) = shop().await;
    let body = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let too_many: Vec<Value> =
        (0..1001).map(|n| document(&format!("n-{n}"), body.clone())).collect();
    let records_before = books.count("idempotency_keys").await;

    let empty = post_batch(&books, Vec::new()).await;
    let oversized = post_batch(&books, too_many).await;
    let no_key = post_batch(&books, vec![document("", body.clone())]).await;
    let unknown_type = post_batch(
        &books,
        vec![json!({
            "type": "refund", "idempotency_key": "t-1", "body": body
        })],
    )
    .await;

    assert_eq!(empty.status, 422);
    assert_eq!(empty.body["field"], "documents");
    assert_eq!(empty.body["value"], 0);
    assert_eq!(oversized.status, 422);
    assert_eq!(oversized.body["value"], 1001);
    assert_eq!(no_key.status, 422);
    assert_eq!(no_key.body["field"], "documents[0].idempotency_key");
    assert_eq!(unknown_type.status, 422);
    assert_eq!(unknown_type.body["field"], "documents[0].type");
    assert_eq!(books.count("invoices").await, 0);
    assert_eq!(books.count("idempotency_keys").await, records_before);
}
