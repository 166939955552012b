//! The provider's HTTP client: explicit timeouts, bounded retries with backoff on timeouts,
//! 5xx, 408 and 429 responses, none on other 4xx.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use super::wire::{CalculationRequest, CalculationResponse};
use super::{ProviderError, ProviderReply, TaxProvider};

/// Path of the calculation endpoint, as in the Vertex O Series REST v2 API.
pub const CALCULATION_PATH: &str = "/vertex-ws/v2/supplies";

/// Retry settings: the number of attempts and the first backoff, doubled on each retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { attempts: 3, first_backoff: Duration::from_millis(100) }
    }
}

/// A provider reached over HTTP.
pub struct HttpProvider {
    client: reqwest::Client,
    url: String,
    retry: RetryPolicy,
}

impl HttpProvider {
    /// Builds a client for the provider at `base_url`. `timeout` bounds one attempt, from
    /// connecting to the end of the body; retries come on top of it.
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> anyhow::Result<HttpProvider> {
        let client =
            reqwest::Client::builder().connect_timeout(connect_timeout).timeout(timeout).build()?;
        let url = format!("{}{CALCULATION_PATH}", base_url.trim_end_matches('/'));
        Ok(HttpProvider {
            client,
            url,
            retry: RetryPolicy { attempts: retry.attempts.max(1), ..retry },
        })
    }

    async fn attempt(&self, request: &CalculationRequest) -> Result<ProviderReply, ProviderError> {
        let response = self.client.post(&self.url).json(request).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        if (500..600).contains(&status) || status == 408 || status == 429 {
            return Err(ProviderError::Server { status });
        }
        if status >= 400 {
            let message = String::from_utf8_lossy(&body).chars().take(500).collect();
            // Only 400 and 422 are about the sale itself. Any other 4xx (401, 403, 404, ...)
            // is the service's own configuration failing, which the sale must not pay for.
            if status == 400 || status == 422 {
                return Err(ProviderError::Rejected { status, message });
            }
            return Err(ProviderError::Refused { status, message });
        }
        let raw: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|err| ProviderError::Malformed(format!("body is not JSON: {err}")))?;
        let response: CalculationResponse = serde_json::from_value(raw.clone())
            .map_err(|err| ProviderError::Malformed(err.to_string()))?;
        Ok(ProviderReply { response, raw })
    }
}

fn transport(err: reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout
    } else {
        ProviderError::Connect(err.to_string())
    }
}

#[async_trait]
impl TaxProvider for HttpProvider {
    async fn calculate(
        &self,
        request: &CalculationRequest,
    ) -> Result<ProviderReply, ProviderError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self.attempt(request).await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match result {
                Err(err) if err.is_retryable() && attempt < self.retry.attempts => {
                    tracing::warn!(attempt, duration_ms, error = %err, "tax provider call failed, retrying");
                    // Up to half the backoff again as jitter, so clients do not retry in step.
                    let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2);
                    tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
