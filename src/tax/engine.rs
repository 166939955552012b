//! The service's tax engine: cached rates, local determination, and the external provider for
//! sales to the United States with the configured outage policy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

use super::determine::{self as local, check_lines};
use super::model::{Determination, DeterminationSource, TaxInput};
use super::outbox::{self, Outcome, Queued, SyncReport};
use super::provider::wire::{CalculationRequest, SaleMessageType};
use super::provider::{self, HttpProvider, ProviderError, TaxProvider};
use super::rates::RateBook;
use super::rules;
use crate::config::{Config, ProviderOutage};
use crate::error::{Error, ErrorCode};

/// Determines tax for the service. Cheap to share: wrap it in an `Arc`.
pub struct Engine {
    pool: Option<deadpool_postgres::Pool>,
    rates: RwLock<Option<Arc<RateBook>>>,
    provider: Option<Arc<dyn TaxProvider>>,
    outage: ProviderOutage,
    /// Set when a message failed to send, so the next successful send starts a `sync`.
    backlog: AtomicBool,
    /// Set while a background `sync` runs, so at most one runs at a time.
    syncing: AtomicBool,
    /// Determinations made at fallback rates because the provider failed, since start.
    fallbacks: AtomicU64,
    /// Determinations rejected with 503 because the provider failed, since start. A batch
    /// that falls back to posting one document at a time determines its invoices again, so
    /// they count again.
    unavailable: AtomicU64,
}

impl Engine {
    /// Builds the engine from the service settings: rates are read from `pool` on first use,
    /// and an HTTP provider is set up when `tax_provider_url` is configured. A provider client
    /// that cannot be built is logged and left out, so the outage policy applies.
    pub fn new(pool: deadpool_postgres::Pool, config: &Config) -> Engine {
        let provider = config.tax_provider_url.as_deref().and_then(|url| {
            let built = HttpProvider::new(
                url,
                config.tax_provider_connect_timeout,
                config.tax_provider_timeout,
                Default::default(),
            );
            match built {
                Ok(provider) => Some(Arc::new(provider) as Arc<dyn TaxProvider>),
                Err(err) => {
                    tracing::error!(error = %err, "cannot build the tax provider client");
                    None
                }
            }
        });
        Engine {
            pool: Some(pool),
            rates: RwLock::new(None),
            provider,
            outage: config.tax_provider_outage,
            backlog: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        }
    }

    /// Builds an engine over a given rate book, without a database.
    pub fn with_rates(
        rates: RateBook,
        provider: Option<Arc<dyn TaxProvider>>,
        outage: ProviderOutage,
    ) -> Engine {
        Engine {
            pool: None,
            rates: RwLock::new(Some(Arc::new(rates))),
            provider,
            outage,
            backlog: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        }
    }

    /// Returns the cached rate book, loading it from PostgreSQL the first time.
    pub async fn rates(&self) -> Result<Arc<RateBook>, Error> {
        if let Some(book) = self.rates.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(book.clone());
        }
        self.reload().await
    }

    /// Reads the rates from PostgreSQL again and replaces the cache.
    pub async fn reload(&self) -> Result<Arc<RateBook>, Error> {
        let Some(pool) = &self.pool else {
            return Err(Error::internal(anyhow::anyhow!("the tax engine has no database")));
        };
        let client = pool.get().await?;
        let book = Arc::new(super::store::load_rate_book(&client).await?);
        *self.rates.write().unwrap_or_else(|p| p.into_inner()) = Some(book.clone());
        Ok(book)
    }

    /// Determines the tax of a quotation: nothing is recorded at the provider.
    pub async fn determine(&self, input: &TaxInput) -> Result<Determination, Error> {
        Ok(self.run(input).await?.0)
    }

    /// Determines the tax of a document with a quotation, which the provider does not record.
    /// When the provider determined it, also returns the request to send as an invoice message
    /// through the outbox once the document has committed.
    pub async fn determine_for_document(
        &self,
        input: &TaxInput,
    ) -> Result<(Determination, Option<CalculationRequest>), Error> {
        let (determination, request) = self.run(input).await?;
        let recorded = determination.source == DeterminationSource::Provider;
        Ok((determination, request.filter(|_| recorded)))
    }

    /// Sends the outbox messages `queued` after their transaction committed, over a
    /// connection of `pool` (the request's). Failures are logged and leave the message
    /// pending, and an unreachable provider leaves the rest untried and pending too. After a
    /// send succeeds while earlier ones failed, a `sync` of every tenant runs in the
    /// background.
    pub async fn deliver(self: &Arc<Self>, pool: &deadpool_postgres::Pool, queued: &[Queued]) {
        let Some(provider) = &self.provider else {
            return;
        };
        let outcomes = match outbox::deliver(pool, provider.as_ref(), queued).await {
            Ok(outcomes) => outcomes,
            Err(err) => {
                tracing::error!(error = %err, "failed to send tax provider messages");
                self.backlog.store(true, Ordering::Relaxed);
                return;
            }
        };
        if outcomes.contains(&Outcome::Failed) || outcomes.contains(&Outcome::Unreachable) {
            self.backlog.store(true, Ordering::Relaxed);
        } else if outcomes.contains(&Outcome::Sent) && self.backlog.swap(false, Ordering::Relaxed) {
            self.spawn_sync();
        }
    }

    /// Starts a background `sync` of every tenant unless one is running.
    pub fn spawn_sync(self: &Arc<Self>) {
        if self.provider.is_none() || self.syncing.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let failed = match engine.sync(None).await {
                Ok(report) => {
                    tracing::info!(
                        sent = report.sent,
                        failed = report.failed,
                        rejected = report.rejected,
                        skipped = report.skipped,
                        "tax provider messages synced"
                    );
                    report.failed > 0
                }
                Err(err) => {
                    tracing::error!(error = %err, "tax provider sync failed");
                    true
                }
            };
            if failed {
                engine.backlog.store(true, Ordering::Relaxed);
            }
            engine.syncing.store(false, Ordering::Release);
        });
    }

    /// Sends the pending outbox messages of `tenant`, or of every tenant.
    pub async fn sync(&self, tenant: Option<uuid::Uuid>) -> Result<SyncReport, Error> {
        let Some(pool) = &self.pool else {
            return Err(Error::internal(anyhow::anyhow!("the tax engine has no database")));
        };
        let Some(provider) = &self.provider else {
            return Err(Error::new(
                ErrorCode::TaxProviderUnavailable,
                "no tax provider is configured: set SUBLEDGER_TAX_PROVIDER_URL",
            ));
        };
        outbox::sync(pool, provider.as_ref(), tenant).await
    }

    async fn run(
        &self,
        input: &TaxInput,
    ) -> Result<(Determination, Option<CalculationRequest>), Error> {
        let rates = self.rates().await?;
        if input.buyer.domicile.country != "US" {
            return Ok((local::determine(&rates, input)?, None));
        }

        check_lines(input)?;
        if input.prices_include_tax {
            return Err(Error::new(
                ErrorCode::InvalidField,
                "prices including tax are not supported for sales to the United States",
            )
            .field("prices_include_tax")
            .value(true));
        }
        let parties = rules::parties(&rates, input)?;
        let Some(provider) = &self.provider else {
            let missing = ProviderError::Connect("no provider is configured".into());
            return Ok((self.outage(&rates, input, missing)?, None));
        };

        let tax_date = us_tax_date(&rates, &parties, input);
        let request =
            provider::request(input, &parties, SaleMessageType::Quotation, None, tax_date);
        let started = std::time::Instant::now();
        let reply = provider.calculate(&request).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match reply.and_then(|reply| provider::determination(input, &parties, tax_date, reply)) {
            Ok(determination) => Ok((determination, Some(request))),
            Err(ProviderError::Rejected { status, message }) => {
                tracing::warn!(status, duration_ms, "tax provider rejected the request");
                Err(Error::new(
                    ErrorCode::TaxProviderRejected,
                    format!("the tax provider rejected the sale (HTTP {status}): {message}"),
                )
                .field("buyer.domicile"))
            }
            Err(err) => {
                tracing::error!(duration_ms, error = %err.detail(), "tax provider call failed");
                Ok((self.outage(&rates, input, err)?, None))
            }
        }
    }

    /// Returns how many determinations the outage policy has handled since start: made at
    /// fallback rates, and rejected as unavailable.
    pub fn outage_counts(&self) -> (u64, u64) {
        (self.fallbacks.load(Ordering::Relaxed), self.unavailable.load(Ordering::Relaxed))
    }

    /// Applies the outage policy after the provider failed, and counts what it did.
    fn outage(
        &self,
        rates: &RateBook,
        input: &TaxInput,
        err: ProviderError,
    ) -> Result<Determination, Error> {
        let applied = self.apply_outage_policy(rates, input, err);
        let counter = if applied.is_ok() { &self.fallbacks } else { &self.unavailable };
        counter.fetch_add(1, Ordering::Relaxed);
        applied
    }

    fn apply_outage_policy(
        &self,
        rates: &RateBook,
        input: &TaxInput,
        err: ProviderError,
    ) -> Result<Determination, Error> {
        match self.outage {
            ProviderOutage::Reject => Err(Error {
                source: Some(err.clone().into()),
                ..Error::new(
                    ErrorCode::TaxProviderUnavailable,
                    format!("{err}; nothing was posted, retry later"),
                )
            }),
            ProviderOutage::FallbackRates => {
                local::determine_fallback(rates, input).map_err(|fallback| {
                    Error::new(
                        ErrorCode::TaxProviderUnavailable,
                        format!("{err}, and no fallback rate applies: {}", fallback.detail),
                    )
                })
            }
        }
    }
}

/// Dates a sale to the United States in the buyer's own time zone when given, because a state
/// may span two zones (Texas does), else in the state's zone.
fn us_tax_date(rates: &RateBook, parties: &rules::Parties, input: &TaxInput) -> NaiveDate {
    let state = parties.buyer_subdivision.as_deref().and_then(|code| rates.jurisdiction(code));
    match (input.buyer.domicile.time_zone, state) {
        (Some(zone), _) => input.tax_point.with_timezone(&zone).date_naive(),
        (None, Some(state)) => local::local_date(state, input.tax_point),
        (None, None) => input.tax_point.date_naive(),
    }
}
