//! Invoices that wait for their tenant's posting slot post together, and each request gets the
//! response it would have got alone.
//!
//! Each test runs the service with one slot per tenant. A first invoice takes the slot and is
//! held by a row lock on its seller, the others queue behind it one at a time, so that their
//! order is known. Releasing the lock lets the first post alone and hands the slot to the
//! queue.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::billing_support::{agreement, invoice_body, party_body, Books};
use crate::helpers::{Response, TestApp};

/// Opens books with one slot per tenant, one Irish partner and one German consumer.
async fn shop() -> (Books, String, String) {
    let app = TestApp::spawn_with(|config| config.invoice_slots = 1).await;
    let books = Books::open_on(app, "IE", Some("IE6388047V")).await;
    let partner = books.partner("IE", None, agreement("agent", "0.10", "kept")).await;
    let customer = books.customer("DE").await;
    (books, partner, customer)
}

fn invoice_at(customer: &str, partner: &str, minute: u32, price: &str) -> Value {
    invoice_body(customer, partner, &format!("2026-07-01T10:{minute:02}:00Z"), &[price])
}

/// Waits until `count` invoices of the books' tenant wait for a slot.
async fn wait_for_queue(books: &Books, count: usize) {
    let groups = &books.app.state.groups;
    for _ in 0..500 {
        if groups.waiting(books.app.tenant_id) == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} invoices never waited; {} did", groups.waiting(books.app.tenant_id));
}

/// Sends `requests` (key, body) while the seller's row is locked: the first takes the slot and
/// waits for the lock, the others queue in order. Then releases the lock and returns every
/// response, in request order.
async fn post_held(books: &Books, seller: &str, requests: Vec<(String, Value)>) -> Vec<Response> {
    let mut client = books.app.sql().await;
    let lock = client.transaction().await.unwrap();
    let seller = Uuid::parse_str(seller).unwrap();
    lock.execute("SELECT 1 FROM parties WHERE id = $1 FOR UPDATE", &[&seller]).await.unwrap();
    let app = &books.app;
    let mut pending = Vec::new();
    for (index, (key, body)) in requests.into_iter().enumerate() {
        let request = tokio::spawn({
            let url = format!("{}/v1/invoices", app.address);
            let request = app
                .client
                .post(url)
                .bearer_auth(&app.write_key)
                .header("Idempotency-Key", key)
                .json(&body);
            async move { crate::helpers::read_response(request.send().await.expect("POST")).await }
        });
        pending.push(request);
        // The first takes the slot, so the queue grows from the second on.
        if index > 0 {
            wait_for_queue(books, index).await;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    lock.rollback().await.unwrap();
    join_all(pending).await.into_iter().map(|joined| joined.expect("request task")).collect()
}

async fn grouped_count(app: &TestApp, path: &str) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.unwrap();
    let text = metrics.text().await.unwrap();
    let prefix = format!("subledger_grouped_invoices_total{{path=\"{path}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.trim().parse().unwrap())
}

/// Transactions that wrote the tenant's invoices, one per distinct `xmin`.
async fn invoice_transactions(books: &Books) -> i64 {
    let client = books.app.sql().await;
    let sql = "SELECT count(DISTINCT xmin::text) FROM invoices WHERE tenant_id = $1";
    client.query_one(sql, &[&books.app.tenant_id]).await.unwrap().get(0)
}

async fn balance_check_rows(books: &Books) -> i64 {
    let client = books.app.sql().await;
    client.query_one("SELECT count(*) FROM audit.balance_check", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn waiting_invoices_post_in_one_transaction() {
    let (books, partner, customer) = shop().await;
    let requests: Vec<(String, Value)> = (0..5)
        .map(|index| {
            let body = invoice_at(&customer, &partner, index, &format!("{}.00", 10 + index));
            (format!("g-{index}"), body)
        })
        .collect();

    let responses = post_held(&books, &partner, requests.clone()).await;

    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
        assert!(response.headers.get("idempotent-replayed").is_none());
    }
    // The first posted alone, the four that waited in one transaction.
    assert_eq!(invoice_transactions(&books).await, 2);
    assert_eq!(grouped_count(&books.app, "together").await, 4);
    assert_eq!(grouped_count(&books.app, "alone").await, 0);
    // Numbers follow the order of the requests, without a gap.
    let numbers: Vec<&str> =
        responses.iter().map(|response| response.body["number"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=5).map(|number| format!("INV-2026-{number:06}")).collect();
    assert_eq!(numbers, expected);
    for (response, (key, body)) in responses.iter().zip(&requests) {
        let id = response.body["id"].as_str().unwrap();
        assert_eq!(response.body, books.get(&format!("/v1/invoices/{id}")).await);
        let retry = books.app.post("/v1/invoices", &books.app.write_key, key, body).await;
        assert_eq!(retry.status, 201);
        assert_eq!(retry.body, response.body);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
    }
    assert_eq!(books.count("invoices").await, 5);
    assert_eq!(balance_check_rows(&books).await, 0);
}

#[tokio::test]
async fn each_waiting_invoice_gets_its_own_answer() {
    let (books, partner, customer) = shop().await;
    let stored = invoice_at(&customer, &partner, 0, "40.00");
    let before = books.app.post("/v1/invoices", &books.app.write_key, "g-stored", &stored).await;
    assert_eq!(before.status, 201, "{}", before.body);
    let good = invoice_at(&customer, &partner, 2, "10.00");
    let mut rejected = invoice_at(&customer, &partner, 3, "20.00");
    rejected["customer_id"] = json!(Uuid::nil());
    let other_body = invoice_at(&customer, &partner, 4, "30.00");
    let requests = vec![
        ("g-first".to_string(), invoice_at(&customer, &partner, 1, "5.00")),
        ("g-good".to_string(), good.clone()),
        ("g-rejected".to_string(), rejected.clone()),
        ("g-good".to_string(), good.clone()),
        ("g-good".to_string(), other_body),
        ("g-stored".to_string(), stored),
    ];

    let responses = post_held(&books, &partner, requests).await;

    assert_eq!(grouped_count(&books.app, "together").await, 5);
    assert_eq!(responses[0].status, 201, "{}", responses[0].body);
    assert_eq!(responses[1].status, 201, "{}", responses[1].body);
    // The rejection is the one the same body gets alone, and it is stored under its key.
    let alone = books.app.post("/v1/invoices", &books.app.write_key, "g-alone", &rejected).await;
    assert_eq!(alone.status, 422);
    assert_eq!(responses[2].status, 422, "{}", responses[2].body);
    assert_eq!(responses[2].body, alone.body);
    assert_eq!(responses[2].headers["content-type"], "application/problem+json");
    let retry = books.app.post("/v1/invoices", &books.app.write_key, "g-rejected", &rejected).await;
    assert_eq!(retry.body, alone.body);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    // The same key and body later in the group replays the first.
    assert_eq!(responses[3].status, 201);
    assert_eq!(responses[3].body, responses[1].body);
    assert_eq!(responses[3].headers["idempotent-replayed"], "true");
    // The same key with another body is refused as a request sent alone is.
    assert_eq!(responses[4].status, 409, "{}", responses[4].body);
    assert_eq!(responses[4].body["field"], "Idempotency-Key");
    assert_eq!(responses[4].body["value"], "g-good");
    // A key stored before the group replays its response.
    assert_eq!(responses[5].status, 201);
    assert_eq!(responses[5].body, before.body);
    assert_eq!(responses[5].headers["idempotent-replayed"], "true");
    assert_eq!(books.count("invoices").await, 3);
    assert_eq!(balance_check_rows(&books).await, 0);
}

#[tokio::test]
async fn a_group_that_cannot_be_written_posts_each_alone() {
    let (books, partner, customer) = shop().await;
    // Any statement that writes more than one invoice fails, as a group's joint write does.
    books
        .app
        .sql()
        .await
        .batch_execute(
            "CREATE FUNCTION one_invoice_per_statement() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF (SELECT count(*) FROM written) > 1 THEN \
                 RAISE EXCEPTION 'more than one invoice in one statement'; \
               END IF; \
               RETURN NULL; \
             END $$; \
             CREATE TRIGGER one_invoice_per_statement AFTER INSERT ON invoices \
               REFERENCING NEW TABLE AS written \
               FOR EACH STATEMENT EXECUTE FUNCTION one_invoice_per_statement();",
        )
        .await
        .unwrap();
    let requests: Vec<(String, Value)> = (0..4)
        .map(|index| {
            (format!("f-{index}"), invoice_at(&customer, &partner, index, &format!("{index}1.00")))
        })
        .collect();

    let responses = post_held(&books, &partner, requests).await;

    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    assert_eq!(grouped_count(&books.app, "together").await, 0);
    assert_eq!(grouped_count(&books.app, "alone").await, 3);
    assert_eq!(invoice_transactions(&books).await, 4);
    assert_eq!(books.count("invoices").await, 4);
    assert_eq!(balance_check_rows(&books).await, 0);
}

/// An invoice of another tenant does not wait for a tenant whose slot is taken.
#[tokio::test]
async fn tenants_have_their_own_slots() {
    let (books, partner, customer) = shop().await;
    let app = &books.app;
    let (_, other_key) = app.other_tenant("Other").await;
    let create = |key: &'static str, body: Value| {
        let other_key = other_key.clone();
        async move {
            let response = app.post("/v1/parties", &other_key, key, &body).await;
            assert_eq!(response.status, 201, "{}", response.body);
            response.body["id"].as_str().unwrap().to_string()
        }
    };
    create("o-platform", party_body("platform", "Other", "IE", true, Some("IE6388047V"))).await;
    let mut other_partner = party_body("partner", "Partner", "IE", true, None);
    other_partner["agreement"] = agreement("agent", "0.10", "kept");
    let other_partner = create("o-partner", other_partner).await;
    let other_customer = create("o-customer", party_body("customer", "C", "DE", false, None)).await;

    let mut client = app.sql().await;
    let lock = client.transaction().await.unwrap();
    let seller = Uuid::parse_str(&partner).unwrap();
    lock.execute("SELECT 1 FROM parties WHERE id = $1 FOR UPDATE", &[&seller]).await.unwrap();
    let request = app
        .client
        .post(format!("{}/v1/invoices", app.address))
        .bearer_auth(&app.write_key)
        .header("Idempotency-Key", "t-held")
        .json(&invoice_at(&customer, &partner, 0, "10.00"));
    let held = tokio::spawn(async move { request.send().await.expect("POST").status().as_u16() });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let body = invoice_at(&other_customer, &other_partner, 0, "10.00");
    let other = app.post("/v1/invoices", &other_key, "o-invoice", &body).await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert!(!held.is_finished());
    lock.rollback().await.unwrap();
    assert_eq!(held.await.unwrap(), 201);
}
