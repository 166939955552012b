//! `POST /v1/batches`: one result per document, each document under its own idempotency key.

use std::time::Duration;

use serde_json::{json, Value};
use subledger::config::ProviderOutage;
use subledger::tax::provider::stub::RunningStub;

use crate::billing_support::{
    account, agreement, dec, invoice_body, party_body, payment_body, Books,
};
use crate::helpers::{Response, TestApp};

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
    assert_eq!(books.balance_check_rows().await, 0);
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
    assert_eq!(results[1]["body"]["field"], "documents[1].idempotency_key");
    assert_eq!(results[1]["body"]["value"], "k-1");
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
    // A valid document first: a bad key anywhere rejects the whole batch before any write.
    let nul_key = post_batch(
        &books,
        vec![document("fine-1", body.clone()), document("nul\u{0}key", body.clone())],
    )
    .await;
    let emoji_key = post_batch(&books, vec![document("k\u{1F600}", body.clone())]).await;
    let long_key = post_batch(&books, vec![document(&"k".repeat(256), body.clone())]).await;
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
    assert_eq!(nul_key.status, 422, "{}", nul_key.body);
    assert_eq!(nul_key.body["field"], "documents[1].idempotency_key");
    assert_eq!(nul_key.body["value"], "nul\u{0}key");
    assert_eq!(emoji_key.status, 422, "{}", emoji_key.body);
    assert_eq!(emoji_key.body["field"], "documents[0].idempotency_key");
    assert_eq!(long_key.status, 422, "{}", long_key.body);
    assert_eq!(unknown_type.status, 422);
    assert_eq!(unknown_type.body["field"], "documents[0].type");
    assert_eq!(books.count("invoices").await, 0);
    assert_eq!(books.count("idempotency_keys").await, records_before);
}

/// Opens books with a flat agent, a tiered agent (15% up to 1,000.00, then 30%), a platform
/// seller and two customers. The first customer has 50.00 of credit from an overpayment.
async fn marketplace() -> (Books, Vec<String>, Vec<String>) {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let flat = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let mut tiered = agreement("agent", "0.15", "refunded");
    tiered["commission_tiers"] =
        json!([{ "up_to": "1000.00", "rate": "0.15" }, { "up_to": null, "rate": "0.30" }]);
    let tiered = books.partner("DE", Some("DE136695976"), tiered).await;
    let supplier = books.partner("IE", None, agreement("supplier", "0.20", "kept")).await;
    let first = books.customer("BR").await;
    let second = books.customer("DE").await;
    let opening = invoice_body(&first, &flat, "2026-10-01T08:00:00Z", &["10.00"]);
    books.create("/v1/invoices", &opening).await;
    let paid = books.create("/v1/payments", &payment_body(&first, "60.00", "2026-10-01")).await;
    assert_eq!(paid["unapplied"], "50.00");
    (books, vec![flat, tiered, supplier], vec![first, second])
}

/// Builds the month's invoices of `marketplace`: credit used over three invoices, a tier
/// crossed in the middle, two issuers' series, and one invoice dated before its series' last.
fn month(partners: &[String], customers: &[String]) -> Vec<Value> {
    let sale = |customer: usize, partner: usize, at: &str, prices: &[&str]| {
        invoice_body(&customers[customer], &partners[partner], at, prices)
    };
    vec![
        sale(0, 0, "2026-10-02T09:00:00Z", &["20.00"]),
        sale(1, 1, "2026-10-02T10:00:00Z", &["900.00"]),
        sale(0, 2, "2026-10-02T11:00:00Z", &["35.00", "5.00"]),
        sale(1, 1, "2026-10-03T10:00:00Z", &["200.00"]),
        sale(0, 0, "2026-10-03T12:00:00Z", &["30.00"]),
        sale(1, 1, "2026-10-02T12:00:00Z", &["1.00"]),
        sale(1, 2, "2026-10-04T09:00:00Z", &["40.00"]),
        sale(0, 1, "2026-10-04T10:00:00Z", &["50.00"]),
    ]
}

/// Drops what differs between two tenants posting the same documents: generated ids.
fn without_ids(mut body: Value) -> Value {
    if let Some(fields) = body.as_object_mut() {
        for id in ["id", "entry_id", "issuer_id", "customer_id", "seller_id", "instance"] {
            fields.remove(id);
        }
    }
    body
}

#[tokio::test]
async fn invoices_in_one_batch_match_invoices_posted_alone() {
    let (alone, partners, customers) = marketplace().await;
    let mut expected = Vec::new();
    for body in month(&partners, &customers) {
        let response = alone.post("/v1/invoices", &body).await;
        expected.push((response.status, without_ids(response.body)));
    }
    let (together, partners, customers) = marketplace().await;
    let documents: Vec<Value> = month(&partners, &customers)
        .into_iter()
        .enumerate()
        .map(|(index, body)| document(&format!("m-{index}"), body))
        .collect();

    let response = post_batch(&together, documents).await;

    assert_eq!(response.status, 200, "{}", response.body);
    let results = response.body["results"].as_array().unwrap();
    let got: Vec<(u16, Value)> = results
        .iter()
        .map(|result| {
            (result["status"].as_u64().unwrap() as u16, without_ids(result["body"].clone()))
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(expected[5].0, 422, "{}", expected[5].1);
    assert_eq!(expected[5].1["code"], "issued_before_series_last");
    // The credit is used up by the first two of the customer's invoices in the batch.
    assert_eq!(expected[0].1["paid_total"], "20.00");
    assert_eq!(expected[2].1["status"], "partially_paid");
    assert_eq!(expected[4].1["paid_total"], "0.00");
    // 100.00 at 15% and 100.00 at 30%.
    assert_eq!(expected[3].1["commission"]["amount"], "45.00");
    for books in [&alone, &together] {
        assert_eq!(books.count("invoices").await, 8);
        assert_eq!(books.balance(&account("customer_credit", &customers[0])).await, dec("0.00"));
        assert_eq!(books.balance_check_rows().await, 0);
    }
    let metrics = reqwest::get(format!("{}/metrics", together.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_batches_total{path=\"together\"} 1"), "{metrics}");
    assert!(!metrics.contains("path=\"one_by_one\""), "{metrics}");
    for (index, result) in results.iter().enumerate().filter(|(_, r)| r["status"] == 201) {
        let id = result["body"]["id"].as_str().unwrap();
        let read = together.get(&format!("/v1/invoices/{id}")).await;
        assert_eq!(read, result["body"], "invoice {index} as read back");
    }
}

#[tokio::test]
async fn concurrent_batches_number_every_series_without_gaps() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let mut partners = Vec::new();
    for _ in 0..3 {
        partners.push(books.partner("FR", None, agreement("agent", "0.10", "refunded")).await);
    }
    let customer = books.customer("BR").await;
    let at = "2026-10-05T10:00:00Z";
    let batches = (0..4).map(|batch| {
        // Each batch names the partners in another order, so their series are reached in
        // different orders.
        let documents: Vec<Value> = (0..24)
            .map(|n| {
                let partner = &partners[(n + batch) % 3];
                let body = invoice_body(&customer, partner, at, &["10.00"]);
                document(&format!("c-{batch}-{n}"), body)
            })
            .collect();
        post_batch(&books, documents)
    });

    let responses = futures::future::join_all(batches).await;

    let mut numbers: Vec<(String, String)> = Vec::new();
    for response in responses {
        assert_eq!(response.status, 200, "{}", response.body);
        for result in response.body["results"].as_array().unwrap() {
            assert_eq!(result["status"], 201, "{}", result["body"]);
            let body = &result["body"];
            numbers.push((body["seller_id"].to_string(), body["number"].to_string()));
        }
    }
    numbers.sort();
    for (partner, numbered) in numbers.chunk_by(|a, b| a.0 == b.0).enumerate() {
        let expected: Vec<String> = (1..=32).map(|n| format!("\"INV-2026-{n:06}\"")).collect();
        let issued: Vec<String> = numbered.iter().map(|(_, number)| number.clone()).collect();
        assert_eq!(issued, expected, "partner {partner}");
    }
    let metrics = reqwest::get(format!("{}/metrics", books.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_batches_total{path=\"together\"} 4"), "{metrics}");
    assert_eq!(books.count("invoices").await, 96);
    assert_eq!(books.balance_check_rows().await, 0);
}

#[tokio::test]
async fn batch_of_mixed_documents_posts_each_in_turn() {
    let (books, partner, customer) = shop().await;
    let sale = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["100.00"]);
    let payment = json!({
        "type": "payment",
        "idempotency_key": "x-2",
        "body": {"customer_id": customer, "currency": "EUR", "amount": "119.00",
                 "received_on": "2026-07-02"},
    });
    let documents = vec![document("x-1", sale), payment];

    let response = post_batch(&books, documents).await;

    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 201, "{}", results[0]["body"]);
    assert_eq!(results[1]["status"], 201, "{}", results[1]["body"]);
    let metrics = reqwest::get(format!("{}/metrics", books.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_batches_total{path=\"one_by_one\"} 1"), "{metrics}");
    let id = results[0]["body"]["id"].as_str().unwrap();
    assert_eq!(books.get(&format!("/v1/invoices/{id}")).await["status"], "paid");
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("0.00"));
    assert_eq!(books.balance_check_rows().await, 0);
}

#[tokio::test]
async fn repeated_key_in_one_batch_is_replayed() {
    let (books, partner, customer) = shop().await;
    let body = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);

    let response =
        post_batch(&books, vec![document("twice", body.clone()), document("twice", body)]).await;

    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[0]["replayed"], false);
    assert_eq!(results[1]["status"], 201);
    assert_eq!(results[1]["replayed"], true);
    assert_eq!(results[1]["body"], results[0]["body"]);
    assert_eq!(books.count("invoices").await, 1);
}

#[tokio::test]
async fn batch_in_parts_keeps_results() {
    // 250 documents are written in three parts. A rejection and a repeated key fall in later
    // parts than the documents they relate to.
    let (books, partner, customer) = shop().await;
    let documents: Vec<Value> = (0..250)
        .map(|index| {
            let issued_at = format!("2026-07-01T10:{:02}:{:02}Z", index / 60, index % 60);
            let mut body = invoice_body(&customer, &partner, &issued_at, &["10.00"]);
            if index == 150 {
                body["lines"][0]["unit_price"] = json!("-1.00");
            }
            let key = if index == 220 { "part-10".to_string() } else { format!("part-{index}") };
            if index == 220 {
                body = invoice_body(&customer, &partner, "2026-07-01T10:00:10Z", &["10.00"]);
            }
            document(&key, body)
        })
        .collect();
    let keys_before = books.count("idempotency_keys").await;

    let response = post_batch(&books, documents.clone()).await;

    assert_eq!(response.status, 200, "{}", response.body);
    let results = response.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 250);
    let created = results.iter().filter(|result| result["status"] == 201).count();
    assert_eq!(created, 249);
    assert_eq!(results[150]["status"], 422);
    assert_eq!(results[150]["body"]["field"], "lines[0].unit_price");
    assert_eq!(results[220]["replayed"], true);
    assert_eq!(results[220]["body"], results[10]["body"]);
    assert_eq!(books.count("invoices").await, 248);
    assert_eq!(books.count("idempotency_keys").await - keys_before, 249);
    let client = books.app.sql().await;
    let numbers: Vec<String> = client
        .query(
            "SELECT number FROM invoices WHERE tenant_id = $1 ORDER BY issued_at, number",
            &[&books.app.tenant_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<String> = (1..=248).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(books.balance_check_rows().await, 0);
    let metrics = reqwest::get(format!("{}/metrics", books.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_batches_total{path=\"together\"} 1"), "{metrics}");
    assert!(!metrics.contains("path=\"one_by_one\""), "{metrics}");

    let retry = post_batch(&books, documents).await;
    let again = retry.body["results"].as_array().unwrap();
    assert!(again.iter().all(|result| result["replayed"] == true), "{}", retry.body);
    assert_eq!(again[249]["body"], results[249]["body"]);
    assert_eq!(books.count("invoices").await, 248);
}

#[tokio::test]
async fn batch_orders_series_at_stored_precision() {
    // Both instants are stored as 10:00:00.000000, so they are equal once issued.
    let instants = ["2026-07-01T10:00:00.000000500Z", "2026-07-01T10:00:00.000000100Z"];
    let (alone, partner, customer) = shop().await;
    for at in instants {
        let response =
            alone.post("/v1/invoices", &invoice_body(&customer, &partner, at, &["10.00"])).await;
        assert_eq!(response.status, 201, "alone at {at}: {}", response.body);
    }
    let (together, partner, customer) = shop().await;
    let documents: Vec<Value> = instants
        .iter()
        .enumerate()
        .map(|(n, at)| {
            document(&format!("p-{n}"), invoice_body(&customer, &partner, at, &["10.00"]))
        })
        .collect();

    let response = post_batch(&together, documents).await;

    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 201, "{}", results[0]["body"]);
    assert_eq!(results[1]["status"], 201, "{}", results[1]["body"]);
    assert_eq!(results[1]["body"]["number"], "INV-2026-000002");
}

/// Opens books whose sales to a Seattle consumer are taxed by the provider stub at `stub`.
async fn us_shop(stub: &RunningStub) -> (Books, String, String) {
    let url = stub.url.clone();
    let app = TestApp::spawn_with(move |config| {
        config.tax_provider_url = Some(url);
        config.tax_provider_timeout = Duration::from_millis(3000);
        config.tax_provider_outage = ProviderOutage::Reject;
    })
    .await;
    let german = json!({ "country": "DE", "time_zone": "Europe/Berlin" });
    let seattle = json!({ "country": "US", "subdivision": "WA", "postal_code": "98101",
                          "time_zone": "America/Los_Angeles" });
    let platform = json!({ "role": "platform", "name": "Platform", "business": true,
                           "vat_id": "DE136695976", "domicile": german });
    let partner = json!({
        "role": "partner", "name": "Partner", "business": true, "domicile": german,
        "agreement": {
            "selling_role": "agent", "currencies": ["USD"],
            "commission_tiers": [{ "up_to": null, "rate": "0.10" }],
            "commission_on_refund": "refunded", "payout_delay_days": 0,
        },
    });
    let customer =
        json!({ "role": "customer", "name": "Customer", "business": false, "domicile": seattle });
    let books = Books { app, platform: String::new() };
    let platform = books.create("/v1/parties", &platform).await["id"].as_str().unwrap().to_string();
    let partner = books.create("/v1/parties", &partner).await["id"].as_str().unwrap().to_string();
    let customer = books.create("/v1/parties", &customer).await["id"].as_str().unwrap().to_string();
    (Books { platform, ..books }, partner, customer)
}

#[tokio::test]
async fn period_closed_while_batch_is_priced() {
    let stub = RunningStub::start().unwrap();
    let (books, partner, customer) = us_shop(&stub).await;
    let sale = |at: &str| {
        let mut body = invoice_body(&customer, &partner, at, &["100.00"]);
        body["currency"] = json!("USD");
        body["lines"][0]["tax_code"] = json!("saas");
        body
    };
    let documents = vec![
        document("june", sale("2026-06-15T10:00:00Z")),
        document("july", sale("2026-07-15T10:00:00Z")),
    ];
    stub.set_fault("slow", 800, Some(1)).await.unwrap();

    // June closes while the batch waits for its first quotation.
    let close = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        books.post("/v1/periods/2026-06/close", &json!({})).await
    };
    let (response, closed) = tokio::join!(post_batch(&books, documents), close);

    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(response.status, 200, "{}", response.body);
    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 422, "{}", results[0]["body"]);
    assert_eq!(results[0]["body"]["code"], "period_closed");
    assert_eq!(results[1]["status"], 201, "{}", results[1]["body"]);
    assert_eq!(books.count("invoices").await, 1);
    let number = results[1]["body"]["number"].as_str().unwrap().to_string();
    assert_eq!(stub.recorded_invoices().await.unwrap(), vec![number]);
    assert_eq!(books.balance_check_rows().await, 0);
}

#[tokio::test]
async fn batch_locks_credit_after_revenue() {
    let (books, partners, customers) = marketplace().await;
    let tiered = &partners[1];
    // The partner's revenue row of 2026 exists once it has sold in 2026.
    books
        .create(
            "/v1/invoices",
            &invoice_body(&customers[1], tiered, "2026-10-02T09:00:00Z", &["10.00"]),
        )
        .await;
    let tenant_id = books.app.tenant_id;
    let partner_id = uuid::Uuid::parse_str(tiered).unwrap();
    let customer_id = uuid::Uuid::parse_str(&customers[0]).unwrap();
    let mut other = books.app.sql().await;
    let other = other.transaction().await.unwrap();
    // Another writer locks the partner's revenue and then the customer's credit, in the order
    // a credit note that refunds to credit takes them.
    other
        .execute(
            "UPDATE partner_year_revenue SET net_revenue = net_revenue \
             WHERE tenant_id = $1 AND partner_id = $2",
            &[&tenant_id, &partner_id],
        )
        .await
        .unwrap();
    let sale = invoice_body(&customers[0], tiered, "2026-10-03T09:00:00Z", &["20.00"]);
    let writer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let credit = other
            .execute(
                "UPDATE contract_accounts SET credit_balance = credit_balance \
                 WHERE tenant_id = $1 AND party_id = $2 AND purpose = 'customer_credit'",
                &[&tenant_id, &customer_id],
            )
            .await;
        other.rollback().await.unwrap();
        credit
    };

    let (response, credit) = tokio::join!(post_batch(&books, vec![document("d-1", sale)]), writer);

    assert!(credit.is_ok(), "{credit:?}");
    assert_eq!(response.status, 200, "{}", response.body);
    let result = &response.body["results"][0];
    assert_eq!(result["status"], 201, "{}", result["body"]);
    assert_eq!(result["body"]["paid_total"], "20.00");
    assert_eq!(books.count("invoices").await, 3);
    assert_eq!(books.balance_check_rows().await, 0);
}

#[tokio::test]
async fn nul_in_document_texts_is_rejected() {
    let (books, partner, customer) = shop().await;
    let good = invoice_body(&customer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let mut bad = good.clone();
    bad["lines"][0]["product"] = json!("e-book\u{0}");

    let alone = books.app.post("/v1/invoices", &books.app.write_key, "nul-alone", &bad).await;
    let response =
        post_batch(&books, vec![document("nul-1", bad.clone()), document("nul-2", good)]).await;

    assert_eq!(alone.status, 422, "{}", alone.body);
    assert_eq!(alone.body["field"], "lines[0].product");
    assert_eq!(alone.body["value"], "e-book\u{0}");
    let results = &response.body["results"];
    assert_eq!(results[0]["status"], 422, "{}", response.body);
    assert_eq!(results[0]["body"]["field"], "lines[0].product");
    assert_eq!(results[1]["status"], 201);
    assert_eq!(books.count("invoices").await, 1);
    let metrics = reqwest::get(format!("{}/metrics", books.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(!metrics.contains("path=\"one_by_one\""), "{metrics}");

    let mut payment = payment_body(&customer, "5.00", "2026-07-02");
    payment["reference"] = json!("wire\u{0}42");
    let paid = books.app.post("/v1/payments", &books.app.write_key, "nul-pay", &payment).await;
    assert_eq!(paid.status, 422, "{}", paid.body);
    assert_eq!(paid.body["field"], "reference");

    let mut party = party_body("customer", "Ann", "DE", false, None);
    party["domicile"]["city"] = json!("Ber\u{0}lin");
    let created = books.app.post("/v1/parties", &books.app.write_key, "nul-party", &party).await;
    assert_eq!(created.status, 422, "{}", created.body);
    assert_eq!(created.body["field"], "domicile.city");
}

#[tokio::test]
async fn mixed_batches_lock_series_in_key_order() {
    // A payment makes each batch run one document at a time. The two batches reach the two
    // partners' series in opposite orders, so they would deadlock if each invoice locked its
    // series only when it runs.
    let (books, first, customer) = shop().await;
    let second = books.partner("IE", None, agreement("agent", "0.10", "kept")).await;
    let at = "2026-07-01T10:00:00Z";
    let batches =
        [[&first, &second], [&second, &first]].into_iter().enumerate().map(|(batch, partners)| {
            let mut documents: Vec<Value> = (0..12)
                .map(|n| {
                    let body = invoice_body(&customer, partners[n / 6], at, &["10.00"]);
                    document(&format!("m-{batch}-{n}"), body)
                })
                .collect();
            documents.push(json!({
                "type": "payment",
                "idempotency_key": format!("m-{batch}-pay"),
                "body": payment_body(&customer, "1.00", "2026-07-02"),
            }));
            post_batch(&books, documents)
        });

    let responses = futures::future::join_all(batches).await;

    for response in &responses {
        assert_eq!(response.status, 200, "{}", response.body);
        for result in response.body["results"].as_array().unwrap() {
            assert_eq!(result["status"], 201, "{}", result["body"]);
        }
    }
    assert_eq!(books.count("invoices").await, 24);
    let metrics = reqwest::get(format!("{}/metrics", books.app.address)).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("subledger_batches_total{path=\"one_by_one\"} 2"), "{metrics}");
    assert_eq!(books.balance_check_rows().await, 0);
}

async fn account_exists(books: &Books, code: &str) -> bool {
    let client = books.app.sql().await;
    let sql = "SELECT EXISTS (SELECT 1 FROM accounts WHERE tenant_id = $1 AND code = $2)";
    client.query_one(sql, &[&books.app.tenant_id, &code]).await.unwrap().get(0)
}

/// Returns the codes of the tenant's accounts that no journal line posts to.
async fn accounts_without_lines(books: &Books) -> Vec<String> {
    let client = books.app.sql().await;
    let sql = "SELECT code FROM accounts a WHERE a.tenant_id = $1 AND NOT EXISTS \
               (SELECT 1 FROM journal_lines l WHERE l.tenant_id = a.tenant_id \
                AND l.account_code = a.code)";
    let rows = client.query(sql, &[&books.app.tenant_id]).await.unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// A rejected invoice of a batch opens none of the accounts it would have posted to: neither
/// the new customer's receivable nor the commission revenue account of a new currency.
#[tokio::test]
async fn rejected_invoices_open_no_accounts() {
    let (books, partner, customer) = shop().await;
    let newcomer = books.customer("FR").await;
    let unused_before = accounts_without_lines(&books).await;
    let first = invoice_body(&customer, &partner, "2026-07-01T11:00:00Z", &["10.00"]);
    // Dated before the series' last invoice, which is checked after the sale's accounts are
    // looked up.
    let earlier = invoice_body(&newcomer, &partner, "2026-07-01T10:00:00Z", &["10.00"]);
    let mut pounds = invoice_body(&newcomer, &partner, "2026-07-01T12:00:00Z", &["10.00"]);
    pounds["currency"] = json!("GBP");
    let documents = vec![document("o-1", first), document("o-2", earlier), document("o-3", pounds)];

    let response = post_batch(&books, documents).await;

    assert_eq!(response.status, 200, "{}", response.body);
    let results = response.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 201, "{}", results[0]);
    assert_eq!(results[1]["body"]["code"], "issued_before_series_last", "{}", results[1]);
    assert_eq!(results[2]["body"]["code"], "currency_not_allowed", "{}", results[2]);
    assert!(account_exists(&books, &account("receivable", &customer)).await);
    assert!(!account_exists(&books, &account("receivable", &newcomer)).await);
    assert!(!account_exists(&books, "commission_revenue.GBP").await);
    for code in accounts_without_lines(&books).await {
        assert!(unused_before.contains(&code), "{code} was opened without a line");
    }
}
