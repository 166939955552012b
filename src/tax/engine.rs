//! The service's tax engine: cached rates, local determination, and the external provider for
//! sales to the United States with the configured outage policy.

use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

use super::determine::{self as local, check_lines};
use super::model::{Determination, TaxInput};
use super::provider::wire::SaleMessageType;
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
        }
    }

    /// Builds an engine over a given rate book, without a database.
    pub fn with_rates(
        rates: RateBook,
        provider: Option<Arc<dyn TaxProvider>>,
        outage: ProviderOutage,
    ) -> Engine {
        Engine { pool: None, rates: RwLock::new(Some(Arc::new(rates))), provider, outage }
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
        self.run(input, SaleMessageType::Quotation, None).await
    }

    /// Determines the tax of an invoice; a sale to the United States is recorded at the
    /// provider under `document_number`.
    pub async fn determine_for_invoice(
        &self,
        input: &TaxInput,
        document_number: &str,
    ) -> Result<Determination, Error> {
        self.run(input, SaleMessageType::Invoice, Some(document_number)).await
    }

    async fn run(
        &self,
        input: &TaxInput,
        message: SaleMessageType,
        document_number: Option<&str>,
    ) -> Result<Determination, Error> {
        let rates = self.rates().await?;
        if input.buyer.domicile.country != "US" {
            return local::determine(&rates, input);
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
            return self.outage(&rates, input, missing);
        };

        let tax_date = us_tax_date(&rates, &parties, input);
        let request = provider::request(input, &parties, message, document_number, tax_date);
        let started = std::time::Instant::now();
        let reply = provider.calculate(&request).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match reply.and_then(|reply| provider::determination(input, &parties, tax_date, reply)) {
            Ok(determination) => Ok(determination),
            Err(ProviderError::Rejected { status, message }) => {
                tracing::warn!(status, duration_ms, "tax provider rejected the request");
                Err(Error::new(
                    ErrorCode::TaxProviderRejected,
                    format!("the tax provider rejected the sale (HTTP {status}): {message}"),
                )
                .field("buyer.domicile"))
            }
            Err(err) => {
                tracing::error!(duration_ms, error = %err, "tax provider call failed");
                self.outage(&rates, input, err)
            }
        }
    }

    /// Applies the outage policy after the provider failed.
    fn outage(
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
