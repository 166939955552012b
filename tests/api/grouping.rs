//! Invoices that wait for their tenant's posting slot post together, and each request gets the
//! response it would have got alone.
//!
//! Each test runs the service with one slot per tenant. A first invoice takes the slot and is
//! blocked by a row lock on its seller, the others queue behind it one at a time, so that their
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
    wait_until("wait for a slot", count, || groups.waiting(books.app.tenant_id)).await;
}

/// Waits until `count` invoices wait for a posting connection.
async fn wait_for_connection_queue(app: &TestApp, count: usize) {
    let groups = &app.state.groups;
    wait_until("wait for a connection", count, || groups.waiting_for_connection()).await;
}

async fn wait_until(what: &str, count: usize, current: impl Fn() -> usize) {
    for _ in 0..500 {
        if current() == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} invoices never came to {what}; {} did", current());
}

/// Locks the seller's party row in a transaction of `client`, so that an invoice of that
/// seller waits for its key-share lock until the transaction ends.
async fn lock_seller<'a>(
    client: &'a mut deadpool_postgres::Object,
    seller: &str,
) -> deadpool_postgres::Transaction<'a> {
    let lock = client.transaction().await.unwrap();
    let seller = Uuid::parse_str(seller).unwrap();
    lock.execute("SELECT 1 FROM parties WHERE id = $1 FOR UPDATE", &[&seller]).await.unwrap();
    lock
}

fn spawn_post(app: &TestApp, key: &str, body: &Value) -> tokio::task::JoinHandle<Response> {
    spawn_post_as(app, &app.write_key, key, body)
}

/// Posts an invoice with the write key `bearer`, in a task of its own.
fn spawn_post_as(
    app: &TestApp,
    bearer: &str,
    key: &str,
    body: &Value,
) -> tokio::task::JoinHandle<Response> {
    let request = app
        .client
        .post(format!("{}/v1/invoices", app.address))
        .bearer_auth(bearer)
        .header("Idempotency-Key", key)
        .json(body);
    tokio::spawn(async move { crate::helpers::read_response(request.send().await.unwrap()).await })
}

/// Sends `requests` (key, body) while the seller's row is locked: the first takes the slot and
/// waits for the lock, the others queue in order. Then releases the lock and returns every
/// response, in request order.
async fn post_while_locked(
    books: &Books,
    seller: &str,
    requests: Vec<(String, Value)>,
) -> Vec<Response> {
    let mut client = books.app.sql().await;
    let lock = lock_seller(&mut client, seller).await;
    let app = &books.app;
    let mut pending = Vec::new();
    for (index, (key, body)) in requests.into_iter().enumerate() {
        pending.push(spawn_post(app, &key, &body));
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

#[tokio::test]
async fn waiting_invoices_post_in_one_transaction() {
    let (books, partner, customer) = shop().await;
    let requests: Vec<(String, Value)> = (0..5)
        .map(|index| {
            let body = invoice_at(&customer, &partner, index, &format!("{}.00", 10 + index));
            (format!("g-{index}"), body)
        })
        .collect();

    let responses = post_while_locked(&books, &partner, requests.clone()).await;

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
    assert_eq!(books.balance_check_rows().await, 0);
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

    let responses = post_while_locked(&books, &partner, requests).await;

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
    assert_eq!(books.balance_check_rows().await, 0);
}

#[tokio::test]
async fn failed_group_posts_each_alone() {
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

    let responses = post_while_locked(&books, &partner, requests).await;

    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    assert_eq!(grouped_count(&books.app, "together").await, 0);
    assert_eq!(grouped_count(&books.app, "alone").await, 3);
    assert_eq!(invoice_transactions(&books).await, 4);
    assert_eq!(books.count("invoices").await, 4);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// A tenant of the books' service with its own write key, one Irish partner and one German
/// consumer.
struct OtherShop {
    tenant_id: Uuid,
    key: String,
    partner: String,
    customer: String,
}

impl OtherShop {
    async fn open(app: &TestApp, name: &str) -> OtherShop {
        let (tenant_id, key) = app.other_tenant(name).await;
        let create = |body: Value| {
            let key = key.clone();
            async move {
                let party_key = Uuid::now_v7().to_string();
                let response = app.post("/v1/parties", &key, &party_key, &body).await;
                assert_eq!(response.status, 201, "{}", response.body);
                response.body["id"].as_str().unwrap().to_string()
            }
        };
        create(party_body("platform", name, "IE", true, Some("IE6388047V"))).await;
        let mut partner = party_body("partner", "Partner", "IE", true, None);
        partner["agreement"] = agreement("agent", "0.10", "kept");
        let partner = create(partner).await;
        let customer = create(party_body("customer", "C", "DE", false, None)).await;
        OtherShop { tenant_id, key, partner, customer }
    }

    fn invoice(&self, minute: u32, price: &str) -> Value {
        invoice_at(&self.customer, &self.partner, minute, price)
    }
}

/// An invoice of another tenant does not wait for a tenant whose slot is taken.
#[tokio::test]
async fn tenants_have_their_own_slots() {
    let (books, partner, customer) = shop().await;
    let app = &books.app;
    let other = OtherShop::open(app, "Other").await;

    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let blocked = spawn_post(app, "t-blocked", &invoice_at(&customer, &partner, 0, "10.00"));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let posted =
        app.post("/v1/invoices", &other.key, "o-invoice", &other.invoice(0, "10.00")).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!(!blocked.is_finished());
    lock.rollback().await.unwrap();
    assert_eq!(blocked.await.unwrap().status, 201);
}

/// Opens books on a service with one worker, one posting connection and two slots per
/// tenant, and two more tenants.
async fn one_connection_shops() -> (Books, String, String, OtherShop, OtherShop) {
    let app = TestApp::spawn_with(|config| {
        config.workers = 1;
        config.posting_connections = 1;
        // The blocked invoice holds the posting connection for as long as the test needs.
        config.posting_patience = Duration::from_secs(60);
        config.invoice_slots = 2;
    })
    .await;
    let books = Books::open_on(app, "IE", Some("IE6388047V")).await;
    let partner = books.partner("IE", None, agreement("agent", "0.10", "kept")).await;
    let customer = books.customer("DE").await;
    let first = OtherShop::open(&books.app, "First").await;
    let second = OtherShop::open(&books.app, "Second").await;
    (books, partner, customer, first, second)
}

/// Posts an invoice of the books' tenant that holds the service's one posting connection until
/// the returned lock ends, and then `requests` (shop, key, body), each once the previous one
/// waits for the connection. Ends the lock and returns the blocked invoice's response and the
/// others', in request order.
async fn post_behind_connection(
    books: &Books,
    seller: &str,
    customer: &str,
    requests: Vec<(&OtherShop, String, Value)>,
) -> (Response, Vec<Response>) {
    let app = &books.app;
    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, seller).await;
    let blocked = spawn_post(app, "c-blocked", &invoice_at(customer, seller, 0, "10.00"));
    wait_for_lock_waiter(app).await;
    let mut pending = Vec::new();
    for (index, (shop, key, body)) in requests.into_iter().enumerate() {
        pending.push(spawn_post_as(app, &shop.key, &key, &body));
        wait_for_connection_queue(app, index + 1).await;
    }
    lock.rollback().await.unwrap();
    let blocked = blocked.await.expect("request task");
    let responses = join_all(pending).await.into_iter().map(|joined| joined.expect("request task"));
    (blocked, responses.collect())
}

/// Sends an invoice over a connection of its own, which the test can then reset.
async fn send_raw(app: &TestApp, key: &str, body: &Value) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = body.to_string();
    let head = format!(
        "POST /v1/invoices HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        app.write_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

/// Closes `stream` with a TCP reset. The service then drops the request's handler, as it does
/// when a client or a proxy in front of it gives up.
#[allow(deprecated)]
fn reset(stream: tokio::net::TcpStream) {
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// Sessions of the test database that wait for a lock.
async fn lock_waiters(app: &TestApp) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity \
               WHERE datname = current_database() AND wait_event_type = 'Lock'";
    app.sql().await.query_one(sql, &[]).await.unwrap().get(0)
}

/// Waits until one session of the test database waits for a lock.
async fn wait_for_lock_waiter(app: &TestApp) {
    for _ in 0..500 {
        if lock_waiters(app).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session waited for a lock");
}

/// A leader whose client goes away while its group waits must not set the rest of the group
/// free of the tenant's slots.
#[tokio::test]
async fn reset_leader_keeps_group_slotted() {
    let (books, partner, customer) = shop().await;
    let app = &books.app;
    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let first = send_raw(app, "r-0", &invoice_at(&customer, &partner, 0, "10.00")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let leader = send_raw(app, "r-1", &invoice_at(&customer, &partner, 1, "11.00")).await;
    wait_for_queue(&books, 1).await;
    let mut waiters = Vec::new();
    for index in 2..6 {
        let body = invoice_at(&customer, &partner, index, &format!("1{index}.00"));
        waiters.push(spawn_post(app, &format!("r-{index}"), &body));
        wait_for_queue(&books, index as usize).await;
    }

    // The first request goes away, so its slot passes to the group that r-1 leads.
    reset(first);
    wait_for_queue(&books, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = lock_waiters(app).await;
    // The leader goes away while its group waits for the seller's row.
    reset(leader);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = lock_waiters(app).await;
    lock.rollback().await.unwrap();
    let responses: Vec<Response> =
        join_all(waiters).await.into_iter().map(|joined| joined.unwrap()).collect();

    // The group goes on without the request that started it: no session starts to wait for
    // the seller, as one would for each invoice posting alone.
    assert_eq!(after, before, "{before} sessions waited for the seller, then {after}");
    // In arrival order, none of them is issued before the last numbered one.
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    // The first request's transaction was rolled back with its handler. The group of five,
    // its leader's invoice included, posted in one transaction.
    assert_eq!(books.count("invoices").await, 5);
    assert_eq!(invoice_transactions(&books).await, 1);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// Starts the service with one slot per tenant and the provider stub, and opens a German
/// platform, a German partner selling in USD and a consumer in Seattle. Returns the books,
/// the partner and the customer.
async fn us_shop(
    stub: &subledger::tax::provider::stub::RunningStub,
    slots: usize,
) -> (Books, String, String) {
    us_shop_with_timeout(stub, slots, 3000).await
}

async fn us_shop_with_timeout(
    stub: &subledger::tax::provider::stub::RunningStub,
    slots: usize,
    timeout_ms: u64,
) -> (Books, String, String) {
    us_shop_with(stub, move |config| {
        config.invoice_slots = slots;
        config.tax_provider_timeout = Duration::from_millis(timeout_ms);
    })
    .await
}

/// Opens the books of `us_shop` on a service that uses `stub` and is set up by `configure`.
async fn us_shop_with(
    stub: &subledger::tax::provider::stub::RunningStub,
    configure: impl FnOnce(&mut subledger::config::Config),
) -> (Books, String, String) {
    let url = stub.url.clone();
    let app = TestApp::spawn_with(move |config| {
        config.tax_provider_url = Some(url);
        configure(config);
    })
    .await;
    let books = Books::open_on(app, "DE", Some("DE136695976")).await;
    let german = json!({ "country": "DE", "time_zone": "Europe/Berlin" });
    let partner = json!({
        "role": "partner", "name": "Partner", "business": true, "domicile": german,
        "agreement": {
            "selling_role": "agent", "currencies": ["USD"],
            "commission_tiers": [{ "up_to": null, "rate": "0.10" }],
            "commission_on_refund": "refunded", "payout_delay_days": 0,
        },
    });
    let partner = books.create("/v1/parties", &partner).await;
    let seattle = json!({ "country": "US", "subdivision": "WA", "postal_code": "98101",
                          "time_zone": "America/Los_Angeles" });
    let customer = json!({ "role": "customer", "name": "Customer", "business": false,
                           "domicile": seattle });
    let customer = books.create("/v1/parties", &customer).await;
    let id = |party: &Value| party["id"].as_str().unwrap().to_string();
    (books, id(&partner), id(&customer))
}

fn us_invoice(customer: &str, partner: &str, minute: u32) -> Value {
    json!({
        "customer_id": customer, "seller_id": partner, "currency": "USD",
        "issued_at": format!("2026-10-05T10:{minute:02}:00Z"),
        "lines": [{ "product": "app", "tax_code": "saas", "quantity": "1",
                    "unit_price": "100.00" }],
    })
}

async fn slow_invoice_messages(stub: &subledger::tax::provider::stub::RunningStub, ms: u64) {
    let fault = json!({ "fault": "slow", "delay_ms": ms, "sale_message_type": "INVOICE" });
    let url = format!("{}/stub/faults", stub.url);
    let response = reqwest::Client::new().post(url).json(&fault).send().await.unwrap();
    assert!(response.status().is_success());
}

/// A grouped invoice that committed gets 201 without the replay header, even when the
/// leader's client goes away while the group's provider messages are sent.
#[tokio::test]
async fn reset_after_commit_keeps_answers() {
    let stub = subledger::tax::provider::stub::RunningStub::start().unwrap();
    let (books, partner, customer) = us_shop(&stub, 1).await;
    let app = &books.app;
    slow_invoice_messages(&stub, 1000).await;
    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let first = spawn_post(app, "u-0", &us_invoice(&customer, &partner, 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let leader = send_raw(app, "u-1", &us_invoice(&customer, &partner, 1)).await;
    wait_for_queue(&books, 1).await;
    let mut waiters = Vec::new();
    for index in 2..4 {
        waiters.push(spawn_post(
            app,
            &format!("u-{index}"),
            &us_invoice(&customer, &partner, index),
        ));
        wait_for_queue(&books, index as usize).await;
    }
    lock.rollback().await.unwrap();

    // The group has committed once the four invoices are there; its messages take a second each.
    for _ in 0..1000 {
        if books.count("invoices").await == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(books.count("invoices").await, 4);
    reset(leader);
    let first = first.await.unwrap();
    let responses: Vec<Response> =
        join_all(waiters).await.into_iter().map(|joined| joined.unwrap()).collect();

    assert_eq!(first.status, 201, "{}", first.body);
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    for response in &responses {
        assert!(response.headers.get("idempotent-replayed").is_none(), "{:?}", response.headers);
    }
    // The group's task sends every message of the group, the leader's included, though the
    // leader's client went away: the outbox empties.
    let mut pending: i64 = -1;
    for _ in 0..100 {
        let sql = "SELECT count(*) FROM tax_provider_outbox \
                   WHERE tenant_id = $1 AND status = 'pending'";
        pending = app.sql().await.query_one(sql, &[&app.tenant_id]).await.unwrap().get(0);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0);
    let recorded = stub.recorded_invoices().await.unwrap();
    for response in &responses {
        let number = response.body["number"].as_str().unwrap();
        assert!(recorded.iter().any(|sent| sent == number), "{number} never reached the provider");
    }
    assert_eq!(recorded.len(), 4, "{recorded:?}");
}

/// More than 100 waiting invoices post in groups of at most 100, numbered in arrival order.
#[tokio::test]
async fn long_queue_splits_at_100() {
    let (books, partner, customer) = shop().await;
    let requests: Vec<(String, Value)> = (0..131)
        .map(|index| {
            let body = invoice_body(
                &customer,
                &partner,
                &format!("2026-07-01T10:{:02}:{:02}Z", index / 60, index % 60),
                &["10.00"],
            );
            (format!("q-{index}"), body)
        })
        .collect();

    let responses = post_while_locked(&books, &partner, requests).await;

    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    let numbers: Vec<&str> =
        responses.iter().map(|response| response.body["number"].as_str().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted);
    assert_eq!(invoice_transactions(&books).await, 3);
    assert_eq!(grouped_count(&books.app, "together").await, 130);
    assert_eq!(books.app.state.groups.waiting(books.app.tenant_id), 0);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// During a provider outage, a US invoice of a group gets its own 503 after as many quote
/// requests as alone, and the rest of the group posts together.
#[tokio::test]
async fn outage_fails_only_its_invoice() {
    let stub = subledger::tax::provider::stub::RunningStub::start().unwrap();
    let (books, partner, us_customer) = us_shop_with_timeout(&stub, 1, 1000).await;
    let app = &books.app;
    let german = json!({ "role": "customer", "name": "Kunde", "business": false,
                         "domicile": { "country": "DE", "time_zone": "Europe/Berlin" } });
    let german = books.create("/v1/parties", &german).await;
    let german = german["id"].as_str().unwrap().to_string();
    let fault = json!({ "fault": "slow", "delay_ms": 1500, "sale_message_type": "QUOTATION" });
    let url = format!("{}/stub/faults", stub.url);
    reqwest::Client::new().post(url).json(&fault).send().await.unwrap();

    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let first = spawn_post(app, "o-0", &us_invoice(&german, &partner, 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let us = spawn_post(app, "o-1", &us_invoice(&us_customer, &partner, 1));
    wait_for_queue(&books, 1).await;
    let eu = spawn_post(app, "o-2", &us_invoice(&german, &partner, 2));
    wait_for_queue(&books, 2).await;
    let quotes_before = stub.requests().await.unwrap();
    lock.rollback().await.unwrap();

    let first = first.await.unwrap();
    let eu = eu.await.unwrap();
    let us = us.await.unwrap();
    let quotes_in_group = stub.requests().await.unwrap() - quotes_before;

    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(us.status, 503, "{}", us.body);
    assert_eq!(us.body["code"], "tax_provider_unavailable");
    assert!(us.headers.get("idempotent-replayed").is_none());
    assert_eq!(eu.status, 201, "{}", eu.body);
    assert_eq!(grouped_count(app, "together").await, 2);
    assert_eq!(grouped_count(app, "alone").await, 0);
    // The same invoice alone, under another key, sends the provider as many quote requests.
    let alone = books.post("/v1/invoices", &us_invoice(&us_customer, &partner, 3)).await;
    assert_eq!(alone.status, 503, "{}", alone.body);
    let quotes_alone = stub.requests().await.unwrap() - quotes_before - quotes_in_group;
    assert!(quotes_in_group > 0);
    assert_eq!(quotes_in_group, quotes_alone);
    // The 503 is not stored, so a retry of the same key requests a quote again.
    let retry = books
        .app
        .post("/v1/invoices", &app.write_key, "o-1", &us_invoice(&us_customer, &partner, 1))
        .await;
    assert_eq!(retry.status, 503, "{}", retry.body);
    assert!(retry.headers.get("idempotent-replayed").is_none());
    assert_eq!(books.count("invoices").await, 2);
}

/// Counts the transactions that wrote invoices of the tenants in `shops` (distinct `xmin`).
async fn transactions_of(app: &TestApp, shops: &[&OtherShop]) -> i64 {
    let tenants: Vec<Uuid> = shops.iter().map(|shop| shop.tenant_id).collect();
    let sql = "SELECT count(DISTINCT xmin::text) FROM invoices WHERE tenant_id = ANY($1)";
    app.sql().await.query_one(sql, &[&tenants]).await.unwrap().get(0)
}

/// Invoices of several tenants that wait for the one posting connection post in one
/// transaction, and each request gets the response it would get alone.
#[tokio::test]
async fn tenants_waiting_for_a_connection_post_together() {
    let (books, partner, customer, first, second) = one_connection_shops().await;
    let requests = vec![
        (&first, "w-1".to_string(), first.invoice(1, "11.00")),
        (&second, "w-2".to_string(), second.invoice(2, "12.00")),
        // The first tenant's second slot: it joins the same queue.
        (&first, "w-3".to_string(), first.invoice(3, "13.00")),
    ];

    let (blocked, responses) =
        post_behind_connection(&books, &partner, &customer, requests.clone()).await;

    assert_eq!(blocked.status, 201, "{}", blocked.body);
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
        assert!(response.headers.get("idempotent-replayed").is_none());
    }
    assert_eq!(transactions_of(&books.app, &[&first, &second]).await, 1);
    assert_eq!(invoice_transactions(&books).await, 1);
    assert_eq!(grouped_count(&books.app, "together").await, 3);
    // Each tenant's invoices are numbered in arrival order.
    let numbers: Vec<&str> =
        responses.iter().map(|response| response.body["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["INV-2026-000001", "INV-2026-000001", "INV-2026-000002"]);
    for (response, (shop, key, body)) in responses.iter().zip(&requests) {
        let id = response.body["id"].as_str().unwrap();
        let read = books.app.get(&format!("/v1/invoices/{id}"), &shop.key).await;
        assert_eq!(read.body, response.body);
        let retry = books.app.post("/v1/invoices", &shop.key, key, body).await;
        assert_eq!(retry.status, 201);
        assert_eq!(retry.body, response.body);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
    }
    assert_eq!(books.app.state.groups.waiting_for_connection(), 0);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// When invoices of several tenants cannot be written in one transaction, each posts alone.
#[tokio::test]
async fn failed_connection_group_posts_each_alone() {
    let (books, partner, customer, first, second) = one_connection_shops().await;
    // A transaction that writes invoices of two tenants fails, as the joint write does.
    books
        .app
        .sql()
        .await
        .batch_execute(
            "CREATE FUNCTION one_tenant_per_transaction() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF (SELECT count(DISTINCT tenant_id) FROM invoices \
                   WHERE xmin = xid(pg_current_xact_id())) > 1 THEN \
                 RAISE EXCEPTION 'invoices of two tenants in one transaction'; \
               END IF; \
               RETURN NULL; \
             END $$; \
             CREATE TRIGGER one_tenant_per_transaction AFTER INSERT ON invoices \
               FOR EACH STATEMENT EXECUTE FUNCTION one_tenant_per_transaction();",
        )
        .await
        .unwrap();
    let requests = vec![
        (&first, "x-1".to_string(), first.invoice(1, "11.00")),
        (&second, "x-2".to_string(), second.invoice(2, "12.00")),
        (&first, "x-3".to_string(), first.invoice(3, "13.00")),
    ];

    let (blocked, responses) = post_behind_connection(&books, &partner, &customer, requests).await;

    assert_eq!(blocked.status, 201, "{}", blocked.body);
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
    }
    let numbers: Vec<&str> =
        responses.iter().map(|response| response.body["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["INV-2026-000001", "INV-2026-000001", "INV-2026-000002"]);
    assert_eq!(grouped_count(&books.app, "together").await, 0);
    assert_eq!(grouped_count(&books.app, "alone").await, 3);
    assert_eq!(transactions_of(&books.app, &[&first, &second]).await, 3);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// A request that goes away while it waits for a posting connection is posted all the same,
/// and its tenant's slots are free afterwards.
#[tokio::test]
async fn reset_while_waiting_for_a_connection() {
    let (books, partner, customer, first, _) = one_connection_shops().await;
    let app = &books.app;
    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let blocked = spawn_post(app, "z-blocked", &invoice_at(&customer, &partner, 0, "10.00"));
    wait_for_lock_waiter(app).await;
    // The books' tenant's second slot: this invoice waits for the connection, then goes away.
    let abandoned_body = invoice_at(&customer, &partner, 1, "11.00");
    let abandoned = send_raw(app, "z-abandoned", &abandoned_body).await;
    wait_for_connection_queue(app, 1).await;
    let other = spawn_post_as(app, &first.key, "z-other", &first.invoice(2, "12.00"));
    wait_for_connection_queue(app, 2).await;
    reset(abandoned);
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.rollback().await.unwrap();

    assert_eq!(blocked.await.unwrap().status, 201);
    assert_eq!(other.await.unwrap().status, 201);
    // The reset request's invoice was posted, in the group, and its response stored.
    let replay = app.post("/v1/invoices", &app.write_key, "z-abandoned", &abandoned_body).await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body["number"], "INV-2026-000002");
    assert_eq!(books.app.state.groups.waiting(app.tenant_id), 0);
    let next = books.post("/v1/invoices", &invoice_at(&customer, &partner, 3, "13.00")).await;
    assert_eq!(next.status, 201, "{}", next.body);
    assert_eq!(books.count("invoices").await, 3);
    assert_eq!(books.balance_check_rows().await, 0);
}

/// An invoice held up while it holds the worker's posting connection holds back another
/// tenant's invoice only until the queue's patience runs out.
#[tokio::test]
async fn held_posting_connection_holds_others_back_briefly() {
    let app = TestApp::spawn_with(|config| {
        config.workers = 1;
        config.posting_connections = 1;
        config.posting_patience = Duration::from_millis(200);
    })
    .await;
    let books = Books::open_on(app, "IE", Some("IE6388047V")).await;
    let partner = books.partner("IE", None, agreement("agent", "0.10", "kept")).await;
    let customer = books.customer("DE").await;
    let other = OtherShop::open(&books.app, "Other").await;
    let app = &books.app;
    let mut client = app.sql().await;
    let lock = lock_seller(&mut client, &partner).await;
    let blocked = spawn_post(app, "p-blocked", &invoice_at(&customer, &partner, 0, "10.00"));
    wait_for_lock_waiter(app).await;

    let posted = app.post("/v1/invoices", &other.key, "p-other", &other.invoice(1, "11.00")).await;

    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!(!blocked.is_finished());
    assert_eq!(grouped_count(app, "together").await, 1);
    lock.rollback().await.unwrap();
    assert_eq!(blocked.await.unwrap().status, 201);
}

/// An invoice that posted alone sends its tax provider messages after it has released the
/// worker's posting connection, so another tenant's invoice does not wait for them.
#[tokio::test]
async fn delivery_releases_posting_connection() {
    let stub = subledger::tax::provider::stub::RunningStub::start().unwrap();
    let (books, partner, customer) = us_shop_with(&stub, |config| {
        config.workers = 1;
        config.posting_connections = 1;
        config.posting_patience = Duration::from_secs(60);
        config.tax_provider_timeout = Duration::from_millis(3000);
    })
    .await;
    let app = &books.app;
    let other = OtherShop::open(app, "Other").await;
    slow_invoice_messages(&stub, 1500).await;

    let us = spawn_post(app, "d-us", &us_invoice(&customer, &partner, 0));
    for _ in 0..500 {
        if books.count("invoices").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(books.count("invoices").await, 1, "the US invoice never committed");
    let posted = app.post("/v1/invoices", &other.key, "d-other", &other.invoice(1, "11.00")).await;

    assert_eq!(posted.status, 201, "{}", posted.body);
    assert!(!us.is_finished(), "the other tenant's invoice waited for the provider messages");
    assert_eq!(us.await.unwrap().status, 201);
}
