//! Clients that post invoices (one per request, or in batches) for a fixed time, and the
//! latencies they saw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::cpu::{self, PerDocument};
use crate::setup::Shop;

/// Outcome of one run of clients inside its measured window.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Requests that ended inside the window.
    pub requests: u64,
    /// Documents posted: 201 responses, or documents with status 201 inside a batch.
    pub documents: u64,
    /// Requests or batched documents that failed: transport errors and non-2xx statuses.
    pub errors: u64,
    /// First error seen, to explain a non-zero count.
    pub first_error: Option<String>,
    /// Latency of every request that ended inside the window, in microseconds.
    pub latencies_us: Vec<u64>,
    pub window: Duration,
    /// CPU time used inside the window, per document.
    pub cpu: PerDocument,
}

/// Settings of one run of clients.
#[derive(Debug, Clone)]
pub struct Plan {
    pub base_url: String,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Documents per request: 1 posts to `/v1/invoices`, more to `/v1/batches`.
    pub batch_size: usize,
    /// Upper bound on the requests of the whole run, whatever the duration.
    pub max_requests: u64,
    /// Distinguishes the idempotency keys and number series of runs.
    pub run_tag: String,
    /// The service process, for its CPU time.
    pub service_pid: Option<u32>,
}

/// Runs `plan.concurrency` clients for the warm-up and then the measured window, and returns
/// what happened inside the window only.
pub async fn run(plan: &Plan, shops: Arc<Vec<Shop>>) -> anyhow::Result<Traffic> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(Duration::from_secs(120))
        .build()?;
    let started = Instant::now();
    let window_start = started + plan.warmup;
    let window_end = window_start + plan.duration;
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(plan.max_requests));
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for client in 0..plan.concurrency {
        let client = Client {
            http: http.clone(),
            plan: plan.clone(),
            shops: shops.clone(),
            index: client,
            budget: budget.clone(),
        };
        tasks.push(tokio::spawn(client.drive(window_start, window_end)));
    }
    let service_pid = plan.service_pid;
    let readings = tokio::spawn(async move {
        tokio::time::sleep_until(window_start.into()).await;
        let first = cpu::read(service_pid, cpu::Client::Driver);
        tokio::time::sleep_until(window_end.into()).await;
        (first, cpu::read(service_pid, cpu::Client::Driver))
    });
    let mut total = Traffic { window: plan.duration, ..Traffic::default() };
    for task in tasks {
        let part = task.await?;
        total.requests += part.requests;
        total.documents += part.documents;
        total.errors += part.errors;
        total.first_error = total.first_error.or(part.first_error);
        total.latencies_us.extend(part.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let (first, last) = readings.await?;
    total.cpu = first.per_document(&last, total.documents);
    Ok(total)
}

struct Client {
    http: reqwest::Client,
    plan: Plan,
    shops: Arc<Vec<Shop>>,
    index: usize,
    budget: Arc<std::sync::atomic::AtomicU64>,
}

impl Client {
    async fn drive(self, window_start: Instant, window_end: Instant) -> Traffic {
        let mut rng = StdRng::from_entropy();
        let mut traffic = Traffic::default();
        let mut sequence = 0u64;
        while Instant::now() < window_end {
            let left = self.budget.fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |left| left.checked_sub(1),
            );
            if left.is_err() {
                break;
            }
            let shop = &self.shops[rng.gen_range(0..self.shops.len())];
            let documents: Vec<(String, Value)> = (0..self.plan.batch_size)
                .map(|_| {
                    sequence += 1;
                    let key = format!("{}-{}-{sequence}", self.plan.run_tag, self.index);
                    (key, invoice(&mut rng, shop, &self.series()))
                })
                .collect();
            let sent = Instant::now();
            let result = self.post(shop, documents).await;
            let ended = Instant::now();
            if ended < window_start || ended > window_end {
                continue;
            }
            traffic.requests += 1;
            traffic.latencies_us.push((ended - sent).as_micros() as u64);
            match result {
                Ok((posted, failed, error)) => {
                    traffic.documents += posted;
                    traffic.errors += failed;
                    traffic.first_error = traffic.first_error.or(error);
                }
                Err(error) => {
                    traffic.errors += self.plan.batch_size as u64;
                    traffic.first_error = traffic.first_error.or(Some(error.to_string()));
                }
            }
        }
        traffic
    }

    /// Number series of this client: each client issues in its own series, because a series
    /// rejects a document dated before its last one and concurrent clients race.
    fn series(&self) -> String {
        format!("L{}", self.index)
    }

    /// Sends the documents; returns how many were posted, how many failed and the first
    /// failure.
    async fn post(
        &self,
        shop: &Shop,
        documents: Vec<(String, Value)>,
    ) -> anyhow::Result<(u64, u64, Option<String>)> {
        if documents.len() == 1 {
            let (key, body) = &documents[0];
            let response = self
                .http
                .post(format!("{}/v1/invoices", self.plan.base_url))
                .bearer_auth(&shop.write_key)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            if status.as_u16() == 201 {
                return Ok((1, 0, None));
            }
            return Ok((0, 1, Some(format!("{status}: {}", snippet(&text)))));
        }
        let batch: Vec<Value> = documents
            .into_iter()
            .map(|(key, body)| json!({"type": "invoice", "idempotency_key": key, "body": body}))
            .collect();
        let response = self
            .http
            .post(format!("{}/v1/batches", self.plan.base_url))
            .bearer_auth(&shop.write_key)
            .json(&json!({"documents": batch}))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            let count = batch.len() as u64;
            return Ok((0, count, Some(format!("{status}: {}", snippet(&text)))));
        }
        let answer: Value = serde_json::from_str(&text)?;
        let mut posted = 0;
        let mut failed = 0;
        let mut first = None;
        for result in answer["results"].as_array().into_iter().flatten() {
            if result["status"] == 201 {
                posted += 1;
            } else {
                failed += 1;
                first = first.or_else(|| Some(snippet(&result.to_string())));
            }
        }
        Ok((posted, failed, first))
    }
}

fn snippet(text: &str) -> String {
    text.chars().take(300).collect()
}

/// Builds an invoice of 3 to 6 lines from a random partner of `shop` to a random customer,
/// issued now in `series`. The service taxes it at the customer's VAT rate and charges the
/// partner's commission.
pub fn invoice(rng: &mut StdRng, shop: &Shop, series: &str) -> Value {
    let customer = shop.customers[rng.gen_range(0..shop.customers.len())];
    let partner = shop.partners[rng.gen_range(0..shop.partners.len())];
    let lines: Vec<Value> = (0..rng.gen_range(3..=6))
        .map(|index| {
            let cents: u32 = rng.gen_range(99..=9_999);
            let discount = if rng.gen_bool(0.2) { "1.00" } else { "0.00" };
            json!({
                "product": format!("sku-{}", rng.gen_range(1..=40)),
                "tax_code": if index % 2 == 0 { "digital_good" } else { "saas" },
                "quantity": rng.gen_range(1..=3).to_string(),
                "unit_price": format!("{}.{:02}", cents / 100 + 1, cents % 100),
                "discount": discount,
            })
        })
        .collect();
    json!({
        "customer_id": customer,
        "seller_id": partner,
        "currency": "EUR",
        "issued_at": chrono::Utc::now(),
        "series": series,
        "lines": lines,
    })
}

/// Reads balances of random accounts one at a time over HTTP and returns each latency in
/// microseconds, sorted.
pub async fn balance_reads(base_url: &str, shop: &Shop, reads: usize) -> anyhow::Result<Vec<u64>> {
    let url = base_url.to_string();
    let (key, accounts) = (shop.read_key.clone(), shop.accounts.clone());
    on_own_thread(async move {
        let http = reqwest::Client::new();
        let mut rng = StdRng::from_entropy();
        let mut latencies = Vec::with_capacity(reads);
        for _ in 0..reads {
            let account = &accounts[rng.gen_range(0..accounts.len())];
            let sent = Instant::now();
            let response = http
                .get(format!("{url}/v1/accounts/{account}/balance"))
                .bearer_auth(&key)
                .send()
                .await?;
            let status = response.status();
            let _ = response.bytes().await?;
            latencies.push(sent.elapsed().as_micros() as u64);
            anyhow::ensure!(status.is_success(), "balance read of {account} returned {status}");
        }
        latencies.sort_unstable();
        Ok(latencies)
    })
    .await
}

/// Runs `work` on a thread of its own under a single-threaded runtime, so that a client's
/// connection task runs on the thread that awaits it. One read at a time then measures the
/// server's latency, not hand-offs between the load driver's threads.
pub async fn on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(work)
    })
    .await?
}

/// Returns the `fraction` percentile of sorted latencies, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], fraction: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64) * fraction).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}
