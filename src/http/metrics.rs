//! Prometheus metrics and the request log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Request counters and latency histograms, labelled by method, route pattern and status.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    batches: IntCounterVec,
    grouped: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("subledger_http_requests_total", "HTTP requests served"),
            &["method", "route", "status"],
        )
        .expect("metric definition is valid");
        let latency = HistogramVec::new(
            HistogramOpts::new("subledger_http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route"],
        )
        .expect("metric definition is valid");
        let batches = IntCounterVec::new(
            Opts::new(
                "subledger_batches_total",
                "Batches posted, by how: all invoices written together, or one document at a time",
            ),
            &["path"],
        )
        .expect("metric definition is valid");
        let grouped = IntCounterVec::new(
            Opts::new(
                "subledger_grouped_invoices_total",
                "Invoices that waited for a posting slot of their tenant or a posting connection \
                 of their worker, by how they posted: in a group's transaction (a group may \
                 have one invoice), or alone after a group could not be written",
            ),
            &["path"],
        )
        .expect("metric definition is valid");
        registry.register(Box::new(requests.clone())).expect("metric names are unique");
        registry.register(Box::new(latency.clone())).expect("metric names are unique");
        registry.register(Box::new(batches.clone())).expect("metric names are unique");
        registry.register(Box::new(grouped.clone())).expect("metric names are unique");
        Metrics { registry, requests, latency, batches, grouped }
    }

    /// Counts a batch posted along `path`: `together` or `one_by_one`.
    pub fn count_batch(&self, path: &str) {
        self.batches.with_label_values(&[path]).inc();
    }

    /// Counts an invoice that waited for a posting slot or a posting connection and posted
    /// along `path`: `together` or `alone`.
    pub fn count_grouped_invoice(&self, path: &str) {
        self.grouped.with_label_values(&[path]).inc();
    }

    /// Renders the text exposition format, with the connections of every pool appended.
    pub fn render(&self, pools: &[deadpool_postgres::Status]) -> String {
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        let (mut open, mut idle, mut waiting) = (0, 0, 0);
        for status in pools {
            open += status.size;
            idle += status.available;
            waiting += status.waiting;
        }
        let mut text = String::from_utf8_lossy(&buffer).into_owned();
        text.push_str(&format!(
            "# HELP subledger_db_pool_connections Database connections by state\n\
             # TYPE subledger_db_pool_connections gauge\n\
             subledger_db_pool_connections{{state=\"open\"}} {}\n\
             subledger_db_pool_connections{{state=\"idle\"}} {}\n\
             subledger_db_pool_waiting {}\n",
            open, idle, waiting
        ));
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Counts and times every request and logs one line for it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let metrics =
        req.app_data::<actix_web::web::Data<super::AppState>>().map(|s| s.metrics.clone());
    let response = next.call(req).await?;
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.requests.with_label_values(&[&method, &route, &status.to_string()]).inc();
        metrics.latency.with_label_values(&[&method, &route]).observe(elapsed.as_secs_f64());
    }
    tracing::debug!(
        http.method = %method,
        http.route = %route,
        http.status = status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request served"
    );
    Ok(response)
}
