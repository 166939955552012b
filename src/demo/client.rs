//! The demo's HTTP client: POSTs with an idempotency key, retried on transient failures, and
//! errors that name the document, the route and the service's problem details.

use std::time::Duration;

use anyhow::bail;
use reqwest::StatusCode;
use serde_json::Value;

/// Attempts per request; a retry reuses the idempotency key, so it never posts twice.
const ATTEMPTS: u32 = 4;

/// A client for one tenant's write key.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
}

impl ApiClient {
    /// Builds a client for the service at `base_url` (such as `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, key: &str) -> anyhow::Result<ApiClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(ApiClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key: key.into(),
        })
    }

    /// POSTs `body` to `path` and returns the JSON body of a 2xx response. Connection
    /// failures, 429 and 503 are retried with backoff; any other status is an error.
    pub async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.key)
                .header("Idempotency-Key", idempotency_key)
                .json(body)
                .send()
                .await;
            let retry = match sent {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
                    }
                    let transient = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    );
                    if !transient || attempt == ATTEMPTS {
                        return Err(Rejection {
                            status: status.as_u16(),
                            code: problem_code(&text),
                            message: format!(
                                "POST {path} (Idempotency-Key {idempotency_key}) failed: {}",
                                describe(status, &text)
                            ),
                        }
                        .into());
                    }
                    describe(status, &text)
                }
                Err(err) if attempt < ATTEMPTS && (err.is_connect() || err.is_timeout()) => {
                    err.to_string()
                }
                Err(err) => bail!("POST {path} (Idempotency-Key {idempotency_key}) failed: {err}"),
            };
            tracing::warn!(path, idempotency_key, attempt, reason = %retry, "retrying request");
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
        }
    }
}

/// A request the service answered with an error status.
#[derive(Debug)]
pub struct Rejection {
    pub status: u16,
    /// The problem's stable `code`, such as `invalid_vat_id`.
    pub code: Option<String>,
    message: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rejection {}

fn problem_code(body: &str) -> Option<String> {
    let problem: Value = serde_json::from_str(body).ok()?;
    problem.get("code")?.as_str().map(str::to_string)
}

/// Renders a failed response: status, then the problem's code, detail, field and value.
fn describe(status: StatusCode, body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        let snippet: String = body.chars().take(300).collect();
        return format!("{status} {snippet}");
    };
    let mut text = status.to_string();
    for name in ["code", "detail", "field", "value"] {
        if let Some(value) = problem.get(name).filter(|value| !value.is_null()) {
            let value = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            text.push_str(&format!(", {name}: {value}"));
        }
    }
    text
}
