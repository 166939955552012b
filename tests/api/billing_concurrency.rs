//! Concurrent invoices, payments and overlapping payout runs.

use futures::future::join_all;
use serde_json::json;

use crate::billing_support::{account, agreement, dec, invoice_body, payment_body, Books};

/// Eight payments race to put 30.00 each on one 100.00 invoice: three fit, five are rejected.
#[tokio::test]
async fn concurrent_payments_never_exceed_residual() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    let invoice = books.create("/v1/invoices", &body).await["id"].as_str().unwrap().to_string();

    let requests = (0..8).map(|_| {
        let mut body = payment_body(&customer, "30.00", "2026-10-06");
        body["allocations"] = json!([{ "invoice_id": invoice, "amount": "30.00" }]);
        let books = &books;
        async move { books.post("/v1/payments", &body).await }
    });
    let responses = join_all(requests).await;
    let created = responses.iter().filter(|response| response.status == 201).count();
    let rejected = responses.iter().filter(|response| response.status == 422).count();
    assert_eq!(created, 3);
    assert_eq!(rejected, 5);
    let invoice = books.get(&format!("/v1/invoices/{invoice}")).await;
    assert_eq!(invoice["residual"], "10.00");
    assert_eq!(invoice["paid_total"], "90.00");
    assert_eq!(books.balance(&account("receivable", &customer)).await, dec("10.00"));
}

/// Without allocations the racing payments clear oldest first and the rest becomes credit.
#[tokio::test]
async fn concurrent_unallocated_payments_clear_once() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    let invoice = books.create("/v1/invoices", &body).await["id"].as_str().unwrap().to_string();

    let requests = (0..6).map(|_| {
        let body = payment_body(&customer, "30.00", "2026-10-06");
        let books = &books;
        async move { books.post("/v1/payments", &body).await }
    });
    let responses = join_all(requests).await;
    assert!(responses.iter().all(|response| response.status == 201));
    let invoice = books.get(&format!("/v1/invoices/{invoice}")).await;
    assert_eq!(invoice["residual"], "0.00");
    assert_eq!(invoice["paid_total"], "100.00");
    assert_eq!(books.balance(&account("customer_credit", &customer)).await, dec("-80.00"));
}

/// Four payout runs for the same date at once pay the partner once.
#[tokio::test]
async fn overlapping_payout_runs_pay_once() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.20", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["125.00"]);
    books.create("/v1/invoices", &body).await;
    books.create("/v1/payments", &payment_body(&customer, "125.00", "2026-10-06")).await;

    let runs = (0..4).map(|_| {
        let books = &books;
        async move { books.post("/v1/payout-runs", &json!({ "as_of": "2026-10-31" })).await }
    });
    let responses = join_all(runs).await;
    assert!(responses.iter().all(|response| response.status == 201));
    let paid: Vec<_> = responses
        .iter()
        .filter(|response| response.body["lines"][0]["outcome"] == "paid")
        .collect();
    assert_eq!(paid.len(), 1);
    assert_eq!(books.count("payouts").await, 1);
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("0.00"));
    // A later run in the same month finds the payout made.
    let again = books.create("/v1/payout-runs", &json!({ "as_of": "2026-10-31" })).await;
    assert_eq!(again["lines"][0]["outcome"], "already_paid");
}

/// The payout job and an API run for the same month pay the partner once between them.
#[tokio::test]
async fn payout_job_and_api_run_pay_once() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner =
        books.partner("DE", Some("DE136695976"), agreement("agent", "0.20", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["125.00"]);
    books.create("/v1/invoices", &body).await;
    books.create("/v1/payments", &payment_body(&customer, "125.00", "2026-10-06")).await;

    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let tenant = Some(books.app.tenant_id);
    let run = json!({ "as_of": "2026-10-31" });
    let (job, api) = tokio::join!(
        subledger::jobs::payouts::run(&books.app.pool, as_of, tenant),
        books.post("/v1/payout-runs", &run),
    );
    let job = job.expect("payout job");
    assert_eq!(api.status, 201);
    let job_paid = job[0].1.lines[0].paid;
    let api_paid = &api.body["lines"][0]["paid"];
    assert!(job_paid.is_some() != api_paid.is_string(), "exactly one run pays");
    assert_eq!(books.count("payouts").await, 1);
    assert_eq!(books.balance(&account("partner_payable", &partner)).await, dec("0.00"));
}

/// Invoices racing into number series that have no row yet, for one partner and one customer
/// with unapplied credit, all post: none fails on a deadlock. The first invoices of a series
/// wait for each other on an advisory lock while later ones lock the series row that the
/// first one inserted. Both kinds also lock the customer's credit, and with tiered
/// commission the partner's revenue of the year.
#[tokio::test]
async fn invoices_into_new_series_all_post() {
    let mut tiered = agreement("agent", "0.10", "refunded");
    tiered["commission_tiers"] =
        json!([{ "up_to": "1000.00", "rate": "0.15" }, { "up_to": null, "rate": "0.30" }]);
    for agreement in [agreement("agent", "0.10", "refunded"), tiered] {
        let books = Books::open("FR", Some("FR40303265045")).await;
        let partner = books.partner("DE", Some("DE136695976"), agreement).await;
        let customer = books.customer("BR").await;
        books.create("/v1/payments", &payment_body(&customer, "500.00", "2026-11-01")).await;

        let mut failures = Vec::new();
        for round in 0..6 {
            let requests = (0..16).map(|_| {
                let mut body = invoice_body(&customer, &partner, "2026-11-02T10:00:00Z", &["1.00"]);
                body["series"] = json!(format!("NEW{round}"));
                let books = &books;
                async move { books.post("/v1/invoices", &body).await }
            });
            let responses = join_all(requests).await;
            failures.extend(responses.into_iter().filter(|response| response.status != 201));
        }
        let bodies: Vec<String> =
            failures.iter().map(|response| response.body.to_string()).collect();
        assert!(bodies.is_empty(), "{} of 96 invoices failed: {bodies:?}", bodies.len());
        assert_eq!(books.count("invoices").await, 96);
    }
}

/// Requests that race with one key issue one invoice. The losers wait for the winner's record,
/// roll their own work back and replay its response, so one number is taken.
#[tokio::test]
async fn one_key_race_issues_one_invoice() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00", "5.00"]);
    let app = &books.app;
    let requests = (0..20).map(|_| app.post("/v1/invoices", &app.write_key, "inv-race", &body));
    let responses = join_all(requests).await;
    let mut first_writes = 0;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.body);
        assert_eq!(response.body["id"], responses[0].body["id"]);
        if response.headers.get("idempotent-replayed").is_none() {
            first_writes += 1;
        }
    }
    assert_eq!(first_writes, 1);
    assert_eq!(books.count("invoices").await, 1);
    assert_eq!(books.count("journal_entries").await, 1);
    let total = dec(responses[0].body["total"].as_str().unwrap());
    assert_eq!(books.balance(&account("receivable", &customer)).await, total);
    let number: i64 = books
        .app
        .sql()
        .await
        .query_one("SELECT last_number FROM number_series WHERE tenant_id = $1", &[&app.tenant_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(number, 1);
}

/// A key stored by another transaction while an invoice is being written makes the invoice's
/// own record insert fail. The invoice is rolled back and takes no number, and the stored
/// record is replayed (here as a 409, because it was stored for another request).
#[tokio::test]
async fn key_stored_meanwhile_rolls_invoice_back() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let app = &books.app;

    let mut holder = app.sql().await;
    let key_holder = holder.transaction().await.unwrap();
    key_holder
        .execute(
            "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, status_code, response) \
         VALUES ($1, 'inv-held', '\\x00', 201, '{}')",
            &[&app.tenant_id],
        )
        .await
        .unwrap();

    let request = app.post("/v1/invoices", &app.write_key, "inv-held", &body);
    let release = async {
        // Waits until the request's record insert waits on the held key, for at most 10 s.
        let watcher = app.sql().await;
        for _ in 0..200 {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        key_holder.commit().await.unwrap();
    };
    let (response, ()) = tokio::join!(request, release);

    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(response.body["code"], "idempotency_key_reused");
    assert_eq!(books.count("invoices").await, 0);
    assert_eq!(books.count("journal_entries").await, 0);
    assert_eq!(books.count("number_series").await, 0);
}

/// A replayed invoice sends its first reads with the lookup, including a key-share lock on the
/// seller. While the seller's row is locked for update, as an agreement change locks it, the
/// replay waits until its work is rolled back. It does not return while the lock is still
/// queued on a connection that goes back to the pool.
#[tokio::test]
async fn replay_waits_for_its_early_lock() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BR").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00"]);
    let app = &books.app;
    let first = app.post("/v1/invoices", &app.write_key, "inv-replayed", &body).await;
    assert_eq!(first.status, 201, "{}", first.body);

    let mut holder = app.sql().await;
    let lock_holder = holder.transaction().await.unwrap();
    let seller_id: uuid::Uuid = partner.parse().unwrap();
    lock_holder
        .execute(
            "SELECT 1 FROM parties WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            &[&app.tenant_id, &seller_id],
        )
        .await
        .unwrap();

    let replay = app.post("/v1/invoices", &app.write_key, "inv-replayed", &body);
    tokio::pin!(replay);
    let early = tokio::time::timeout(std::time::Duration::from_secs(1), &mut replay).await;
    assert!(early.is_err(), "the replay returned while its lock was still queued");
    lock_holder.commit().await.unwrap();
    let replayed = replay.await;

    assert_eq!(replayed.status, 201, "{}", replayed.body);
    assert_eq!(replayed.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replayed.body["id"], first.body["id"]);
}
