//! The provider's HTTP client: explicit timeouts, bounded retries with backoff on timeouts,
//! connection failures, 5xx, 408 and 429 responses, none on other 4xx. A 429 waits for its
//! `Retry-After` when that is 1 s or less, and ends the call at once when it is longer.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use super::wire::{CalculationRequest, CalculationResponse};
use super::{ProviderError, ProviderReply, TaxProvider};

/// Path of the calculation endpoint, as in the Vertex O Series REST v2 API.
pub const CALCULATION_PATH: &str = "/vertex-ws/v2/supplies";

/// Longest `Retry-After` that a call waits for before its next attempt. A longer one makes
/// the provider count as unavailable at once, because the caller keeps a database transaction
/// open while it waits.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(1);

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
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        if let Some(err) = status_error(status, retry_after, &body) {
            return Err(err);
        }
        let raw: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|err| ProviderError::Malformed(format!("body is not JSON: {err}")))?;
        let response: CalculationResponse = serde_json::from_value(raw.clone())
            .map_err(|err| ProviderError::Malformed(err.to_string()))?;
        Ok(ProviderReply { response, raw })
    }
}

/// Classifies a response status; `None` for a success. Only 400, 413 and 422, which are about
/// the request itself, reject the sale for good. A 409 depends on what the provider already
/// holds, so it is not final either. Any other 4xx is the service's or the provider's
/// condition (credentials, URL, format, rate limit), which the sale must not pay for.
fn status_error(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Option<ProviderError> {
    let message = || String::from_utf8_lossy(body).chars().take(500).collect();
    match status {
        100..=399 => None,
        429 => Some(ProviderError::Throttled { retry_after }),
        408 => Some(ProviderError::Server { status }),
        400 | 413 | 422 => Some(ProviderError::Rejected { status, message: message() }),
        409 => Some(ProviderError::Conflict { message: message() }),
        400..=499 => Some(ProviderError::Refused { status, message: message() }),
        _ => Some(ProviderError::Server { status }),
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date (RFC 9110, section 10.2.3), counting a
/// date in the past as no wait.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
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
                Err(ProviderError::Throttled { retry_after: Some(wait) })
                    if wait > MAX_RETRY_AFTER =>
                {
                    tracing::warn!(
                        attempt,
                        retry_after_s = wait.as_secs(),
                        max_wait_s = MAX_RETRY_AFTER.as_secs(),
                        "tax provider Retry-After exceeds the maximum wait, not retrying"
                    );
                    return result;
                }
                Err(err) if err.is_retryable() && attempt < self.retry.attempts => {
                    let error = err.detail();
                    tracing::warn!(
                        attempt,
                        duration_ms,
                        error,
                        "tax provider call failed, retrying"
                    );
                    // Up to half the backoff again as jitter, so clients do not retry in step.
                    let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2);
                    let mut pause = backoff + Duration::from_millis(jitter);
                    if let ProviderError::Throttled { retry_after: Some(wait) } = err {
                        pause = pause.max(wait);
                    }
                    tokio::time::sleep(pause).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let body = b"{\"errors\": []}";
        assert_eq!(status_error(200, None, body), None);
        for status in [500, 502, 503, 599, 408] {
            assert_eq!(status_error(status, None, body), Some(ProviderError::Server { status }));
        }
        let wait = Some(Duration::from_secs(2));
        assert_eq!(
            status_error(429, wait, body),
            Some(ProviderError::Throttled { retry_after: wait })
        );
        let conflict = status_error(409, None, body);
        assert!(matches!(conflict, Some(ProviderError::Conflict { .. })), "{conflict:?}");
        for status in [401, 403, 404, 405, 406, 407, 410, 415, 426] {
            let refused = status_error(status, None, body);
            assert!(matches!(refused, Some(ProviderError::Refused { .. })), "{status}");
        }
        for status in [400, 413, 422] {
            let rejected = status_error(status, None, body);
            let expected = ProviderError::Rejected { status, message: "{\"errors\": []}".into() };
            assert_eq!(rejected, Some(expected), "{status}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));

        let in_an_hour = chrono::Utc::now() + chrono::Duration::hours(1);
        let date = in_an_hour.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        headers.insert(reqwest::header::RETRY_AFTER, date.parse().unwrap());
        let wait = retry_after(&headers).expect("an HTTP date is read");
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        assert!(wait <= Duration::from_secs(3600), "{wait:?}");

        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        headers.insert(reqwest::header::RETRY_AFTER, past.parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));

        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn refused_text_leaves_out_the_body() {
        let refused = ProviderError::Refused { status: 401, message: "token expired".into() };
        assert!(!refused.to_string().contains("token expired"));
        assert!(refused.detail().ends_with(": token expired"), "{}", refused.detail());
    }
}
