//! Settings read from the environment.

use std::net::SocketAddr;
use std::time::Duration;

/// Policy for documents when the external tax provider is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOutage {
    /// Reject the document with 503 and post nothing.
    Reject,
    /// Use local fallback rates and flag the document `tax_estimated`.
    FallbackRates,
}

/// Service settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL connection string; `None` starts the embedded default cluster.
    pub database_url: Option<String>,
    /// Address the HTTP server binds to.
    pub bind: SocketAddr,
    /// Database connections of the HTTP workers, shared out between them (at least one
    /// each). Two more load the tax rates at start, sync the tax provider in the background
    /// and serve the health probes.
    pub pool_size: usize,
    /// Number of HTTP worker threads.
    pub workers: usize,
    /// Invoices of one tenant that post at the same time. Further invoices of the tenant wait,
    /// and post together in one transaction when a slot frees. Zero posts every invoice alone,
    /// at once, and turns off `posting_connections` too.
    pub invoice_slots: usize,
    /// Connections of each HTTP worker on which invoices that hold their tenant's slot post at
    /// a time. Further such invoices, of any tenant, wait and post together in one
    /// transaction when one of them frees. Zero sets no limit. Fewer connections make larger
    /// groups: each costs one transaction, one commit and one statement per table. Groups of
    /// one tenant's invoices, and invoices that find the queue full (100), post outside this
    /// limit.
    pub posting_connections: usize,
    /// Maximum wait of invoices for a posting connection. Past it they post together on a
    /// connection of the pool all the same, so that a posting held up by a lock or a slow tax
    /// provider holds back the other invoices of its worker for no longer.
    pub posting_patience: Duration,
    /// Base URL of the external tax provider, if one is configured.
    pub tax_provider_url: Option<String>,
    /// Connect timeout for the tax provider.
    pub tax_provider_connect_timeout: Duration,
    /// Total timeout of one tax provider call, retries excluded.
    pub tax_provider_timeout: Duration,
    /// Policy when the tax provider is down.
    pub tax_provider_outage: ProviderOutage,
    /// How long a valid API key is trusted without reading it again. Zero reads it on every
    /// request.
    pub key_cache_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pool_size: 16,
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            invoice_slots: 2,
            posting_connections: 1,
            posting_patience: Duration::from_millis(100),
            tax_provider_url: None,
            tax_provider_connect_timeout: Duration::from_millis(500),
            tax_provider_timeout: Duration::from_secs(2),
            tax_provider_outage: ProviderOutage::Reject,
            key_cache_ttl: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Reads `DATABASE_URL`, `SUBLEDGER_BIND`, `SUBLEDGER_POOL_SIZE`, `SUBLEDGER_WORKERS`,
    /// `SUBLEDGER_INVOICE_SLOTS`, `SUBLEDGER_POSTING_CONNECTIONS`,
    /// `SUBLEDGER_POSTING_PATIENCE_MS`,
    /// `SUBLEDGER_TAX_PROVIDER_URL`, `SUBLEDGER_TAX_PROVIDER_TIMEOUT_MS`,
    /// `SUBLEDGER_TAX_PROVIDER_CONNECT_TIMEOUT_MS`, `SUBLEDGER_TAX_PROVIDER_OUTAGE` (`reject` or
    /// `fallback`) and `SUBLEDGER_KEY_CACHE_SECONDS`.
    pub fn from_env() -> anyhow::Result<Config> {
        let defaults = Config::default();
        let database_url = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
        let bind = match std::env::var("SUBLEDGER_BIND") {
            Ok(text) => text.parse().map_err(|_| {
                anyhow::anyhow!("invalid SUBLEDGER_BIND '{text}': expected host:port")
            })?,
            Err(_) => defaults.bind,
        };
        let outage = match std::env::var("SUBLEDGER_TAX_PROVIDER_OUTAGE").as_deref() {
            Ok("reject") | Err(_) => ProviderOutage::Reject,
            Ok("fallback") => ProviderOutage::FallbackRates,
            Ok(other) => anyhow::bail!(
                "invalid SUBLEDGER_TAX_PROVIDER_OUTAGE '{other}': expected reject or fallback"
            ),
        };
        Ok(Config {
            database_url,
            bind,
            pool_size: env_number("SUBLEDGER_POOL_SIZE", defaults.pool_size as u64)? as usize,
            workers: env_number("SUBLEDGER_WORKERS", defaults.workers as u64)? as usize,
            invoice_slots: env_number("SUBLEDGER_INVOICE_SLOTS", defaults.invoice_slots as u64)?
                as usize,
            posting_connections: env_number(
                "SUBLEDGER_POSTING_CONNECTIONS",
                defaults.posting_connections as u64,
            )? as usize,
            posting_patience: Duration::from_millis(env_number(
                "SUBLEDGER_POSTING_PATIENCE_MS",
                defaults.posting_patience.as_millis() as u64,
            )?),
            tax_provider_url: std::env::var("SUBLEDGER_TAX_PROVIDER_URL").ok(),
            tax_provider_connect_timeout: Duration::from_millis(env_number(
                "SUBLEDGER_TAX_PROVIDER_CONNECT_TIMEOUT_MS",
                defaults.tax_provider_connect_timeout.as_millis() as u64,
            )?),
            tax_provider_timeout: Duration::from_millis(env_number(
                "SUBLEDGER_TAX_PROVIDER_TIMEOUT_MS",
                defaults.tax_provider_timeout.as_millis() as u64,
            )?),
            tax_provider_outage: outage,
            key_cache_ttl: Duration::from_secs(env_number(
                "SUBLEDGER_KEY_CACHE_SECONDS",
                defaults.key_cache_ttl.as_secs(),
            )?),
        })
    }
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid {name} '{text}': expected a whole number")),
        Err(_) => Ok(default),
    }
}
