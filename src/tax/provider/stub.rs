//! A stub of the external tax provider: a real HTTP server on a loopback address that computes
//! responses to calculation requests from `fixtures/tax/us_addresses.json`.
//!
//! Tests inject faults in two ways. A request header
//! `X-Stub-Fault: slow | error | malformed | reject | throttle | unauthorized`, with
//! `X-Stub-Delay-Ms` (default 1000) for `slow` and `throttle`, affects that request only.
//! `POST /stub/faults` with `{"fault": "slow", "delay_ms": 3000, "count": 2}` (`delay_ms`
//! default 0) affects the next `count` requests, or
//! all of them when `count` is absent, and `{"fault": "none"}` clears it. With
//! `"sale_message_type": "INVOICE"` (or `QUOTATION`) the fault affects only requests of that
//! type, and the others neither see it nor count towards `count`.
//! `GET /stub/requests` returns how many calculation requests arrived, and `GET /stub/messages`
//! lists each one's `saleMessageType`, `documentNumber` and the HTTP status of the response.
//! A real provider records an `INVOICE` that it returned 200 for in its tax journal.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{dev::Server, web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::http::CALCULATION_PATH;
use super::wire::{self, CalculationRequest, ResponseData, ResponseLine};
use crate::money::Rounding;

const ADDRESSES: &str = include_str!("../../../fixtures/tax/us_addresses.json");

#[derive(Debug, Clone, Deserialize)]
struct AddressFile {
    origin_based_states: Vec<String>,
    taxable_percent: HashMap<String, HashMap<String, Decimal>>,
    addresses: Vec<AddressRow>,
}

#[derive(Debug, Clone, Deserialize)]
struct AddressRow {
    postal_code: String,
    state: String,
    jurisdictions: Vec<JurisdictionRow>,
}

#[derive(Debug, Clone, Deserialize)]
struct JurisdictionRow {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    name: String,
    rate: Decimal,
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    None,
    /// Wait `delay_ms` before responding.
    Slow,
    /// Respond with HTTP 500.
    Error,
    /// Respond 200 with a body that is not JSON.
    Malformed,
    /// Respond with HTTP 400, as the provider rejects a request it cannot tax.
    Reject,
    /// Respond with HTTP 429, as a provider does over its rate limit, with `Retry-After` set
    /// to `delay_ms` in whole seconds.
    Throttle,
    /// Respond with HTTP 401, as the provider does when the service's credentials are wrong.
    Unauthorized,
}

#[derive(Debug, Deserialize)]
struct FaultRequest {
    fault: Fault,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    sale_message_type: Option<wire::SaleMessageType>,
}

#[derive(Debug)]
struct Faults {
    fault: Fault,
    delay: Duration,
    remaining: Option<u32>,
    /// Only requests of this type see the fault, when set.
    only: Option<wire::SaleMessageType>,
    received: u64,
    messages: Vec<ReceivedMessage>,
}

/// A calculation request the stub responded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub sale_message_type: wire::SaleMessageType,
    pub document_number: Option<String>,
    /// HTTP status of the response.
    pub status: u16,
}

struct StubState {
    file: AddressFile,
    faults: Mutex<Faults>,
}

/// Maximum delay of a `slow` fault, and maximum `Retry-After` that a `throttle` sends, so a
/// stub never hangs a test run.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Binds `listener` and returns the running stub server.
pub fn serve(listener: TcpListener) -> anyhow::Result<Server> {
    let file: AddressFile =
        serde_json::from_str(ADDRESSES).context("fixtures/tax/us_addresses.json")?;
    let state = web::Data::new(StubState {
        file,
        faults: Mutex::new(Faults {
            fault: Fault::None,
            delay: Duration::ZERO,
            remaining: None,
            only: None,
            received: 0,
            messages: Vec::new(),
        }),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route(CALCULATION_PATH, web::post().to(calculate))
            .route("/stub/faults", web::post().to(set_faults))
            .route("/stub/requests", web::get().to(requests))
            .route("/stub/messages", web::get().to(messages))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A stub running in the background on 127.0.0.1 with a free port, for tests and benches.
pub struct RunningStub {
    pub url: String,
    handle: actix_web::dev::ServerHandle,
}

impl RunningStub {
    /// Starts a stub on 127.0.0.1, port chosen by the system, on the current tokio runtime.
    pub fn start() -> anyhow::Result<RunningStub> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = serve(listener)?;
        let handle = server.handle();
        tokio::spawn(server);
        Ok(RunningStub { url, handle })
    }

    /// Injects `fault` into the next `count` requests (all when `None`).
    pub async fn set_fault(
        &self,
        fault: &str,
        delay_ms: u64,
        count: Option<u32>,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({ "fault": fault, "delay_ms": delay_ms, "count": count });
        self.post_fault(body).await
    }

    /// Injects `fault` into every request of `message_type` until cleared.
    pub async fn set_fault_on(
        &self,
        fault: &str,
        message_type: wire::SaleMessageType,
    ) -> anyhow::Result<()> {
        let body = serde_json::json!({ "fault": fault, "sale_message_type": message_type });
        self.post_fault(body).await
    }

    async fn post_fault(&self, body: serde_json::Value) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .post(format!("{}/stub/faults", self.url))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "stub refused the fault: {}",
            response.status()
        );
        Ok(())
    }

    /// Returns how many calculation requests the stub received.
    pub async fn requests(&self) -> anyhow::Result<u64> {
        let body: serde_json::Value =
            reqwest::get(format!("{}/stub/requests", self.url)).await?.json().await?;
        body["received"].as_u64().context("stub returned no request count")
    }
}

impl RunningStub {
    /// Returns the calculation requests the stub received, oldest first.
    pub async fn messages(&self) -> anyhow::Result<Vec<ReceivedMessage>> {
        let response = reqwest::get(format!("{}/stub/messages", self.url)).await?;
        Ok(response.json().await?)
    }

    /// Returns the document numbers of the `INVOICE` messages that got HTTP 200. A provider
    /// records exactly those in its tax journal.
    pub async fn recorded_invoices(&self) -> anyhow::Result<Vec<String>> {
        let messages = self.messages().await?;
        Ok(messages
            .into_iter()
            .filter(|m| m.sale_message_type == wire::SaleMessageType::Invoice && m.status == 200)
            .filter_map(|m| m.document_number)
            .collect())
    }
}

impl Drop for RunningStub {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

async fn set_faults(state: web::Data<StubState>, body: web::Json<FaultRequest>) -> HttpResponse {
    let mut faults = state.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    faults.fault = body.fault;
    faults.delay = Duration::from_millis(body.delay_ms.unwrap_or(0)).min(MAX_DELAY);
    faults.remaining = body.count;
    faults.only = body.sale_message_type;
    HttpResponse::NoContent().finish()
}

async fn requests(state: web::Data<StubState>) -> HttpResponse {
    let faults = state.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    HttpResponse::Ok().json(serde_json::json!({ "received": faults.received }))
}

async fn messages(state: web::Data<StubState>) -> HttpResponse {
    let faults = state.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    HttpResponse::Ok().json(&faults.messages)
}

fn record(state: &StubState, request: &CalculationRequest, status: u16) {
    let mut faults = state.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    faults.messages.push(ReceivedMessage {
        sale_message_type: request.sale_message_type,
        document_number: request.document_number.clone(),
        status,
    });
}

/// Counts the request and returns the fault that applies to it.
fn take_fault(
    state: &StubState,
    req: &HttpRequest,
    message_type: wire::SaleMessageType,
) -> (Fault, Duration) {
    let mut faults = state.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    faults.received += 1;
    let header = |name: &str| req.headers().get(name).and_then(|value| value.to_str().ok());
    if let Some(fault) = header("x-stub-fault") {
        let delay = header("x-stub-delay-ms").and_then(|ms| ms.parse().ok()).unwrap_or(1000);
        let fault = match fault {
            "slow" => Fault::Slow,
            "error" => Fault::Error,
            "malformed" => Fault::Malformed,
            "reject" => Fault::Reject,
            "throttle" => Fault::Throttle,
            "unauthorized" => Fault::Unauthorized,
            _ => Fault::None,
        };
        return (fault, Duration::from_millis(delay).min(MAX_DELAY));
    }
    if faults.only.is_some_and(|only| only != message_type) {
        return (Fault::None, Duration::ZERO);
    }
    let fault = faults.fault;
    if let Some(remaining) = faults.remaining.as_mut() {
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            faults.fault = Fault::None;
            faults.remaining = None;
            faults.only = None;
        }
    }
    (fault, faults.delay)
}

async fn calculate(
    state: web::Data<StubState>,
    req: HttpRequest,
    body: web::Json<CalculationRequest>,
) -> HttpResponse {
    let (fault, delay) = take_fault(&state, &req, body.sale_message_type);
    match fault {
        Fault::Error => {
            record(&state, &body, 500);
            return HttpResponse::InternalServerError().json(serde_json::json!({
                "errors": [{ "detail": "injected server error" }]
            }));
        }
        Fault::Malformed => {
            record(&state, &body, 200);
            return HttpResponse::Ok().content_type("application/json").body("{\"data\": [trunc");
        }
        Fault::Reject => {
            record(&state, &body, 400);
            return HttpResponse::BadRequest().json(serde_json::json!({
                "errors": [{ "detail": "injected rejection" }]
            }));
        }
        Fault::Throttle => {
            record(&state, &body, 429);
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", delay.as_secs().to_string()))
                .json(serde_json::json!({ "errors": [{ "detail": "injected rate limit" }] }));
        }
        Fault::Unauthorized => {
            record(&state, &body, 401);
            return HttpResponse::Unauthorized().json(serde_json::json!({
                "errors": [{ "detail": "injected invalid credentials" }]
            }));
        }
        Fault::Slow => tokio::time::sleep(delay).await,
        Fault::None => {}
    }
    match answer(&state.file, &body) {
        Ok(data) => {
            record(&state, &body, 200);
            HttpResponse::Ok().json(wire::CalculationResponse { data })
        }
        Err(detail) => {
            record(&state, &body, 400);
            HttpResponse::BadRequest().json(serde_json::json!({ "errors": [{ "detail": detail }] }))
        }
    }
}

fn find<'a>(file: &'a AddressFile, address: &wire::Address) -> Option<&'a AddressRow> {
    let postal = address.postal_code.as_deref()?.get(..5)?;
    file.addresses.iter().find(|row| row.postal_code == postal)
}

/// Computes the response: every jurisdiction of the taxing address, the product's taxable
/// part of each line, and the tax rounded half up per line and jurisdiction.
fn answer(file: &AddressFile, request: &CalculationRequest) -> Result<ResponseData, String> {
    let (taxing, situs) = taxing_address(file, request)?;
    let decimals = crate::money::Currency::parse(&request.currency)
        .map_err(|err| err.to_string())?
        .minor_units();
    let mut line_items = Vec::with_capacity(request.line_items.len());
    for line in &request.line_items {
        let percent = file
            .taxable_percent
            .get(&taxing.state)
            .and_then(|products| products.get(&line.product.product_class))
            .ok_or_else(|| format!("unknown product class {}", line.product.product_class))?;
        let taxable =
            Rounding::HalfUp.round(line.extended_price * percent / Decimal::ONE_HUNDRED, decimals);
        let taxes = line_taxes(taxing, situs, taxable, decimals);
        line_items.push(ResponseLine {
            line_item_number: line.line_item_number,
            extended_price: line.extended_price,
            total_tax: taxes.iter().map(|tax| tax.calculated_tax).sum(),
            taxes,
        });
    }

    let sub_total: Decimal = request.line_items.iter().map(|line| line.extended_price).sum();
    let total_tax: Decimal = line_items.iter().map(|line| line.total_tax).sum();
    Ok(ResponseData {
        sale_message_type: request.sale_message_type,
        sub_total,
        total_tax,
        total: sub_total + total_tax,
        line_items,
    })
}

/// Chooses the address whose jurisdictions tax the sale: the seller's for a sale within an
/// origin-based state (Texas sources local tax at the seller's place of business), the
/// buyer's otherwise.
fn taxing_address<'a>(
    file: &'a AddressFile,
    request: &CalculationRequest,
) -> Result<(&'a AddressRow, &'static str), String> {
    let destination = &request.customer.destination;
    if destination.country != "US" {
        return Err(format!("destination country {} is not supported", destination.country));
    }
    let to = find(file, destination).ok_or_else(|| {
        let postal_code = destination.postal_code.as_deref().unwrap_or("(none)");
        format!("no jurisdiction found for postal code {postal_code}")
    })?;
    let origin = &request.seller.physical_origin;
    let from = (origin.country == "US").then(|| find(file, origin)).flatten();
    Ok(match from {
        Some(from) if from.state == to.state && file.origin_based_states.contains(&to.state) => {
            (from, "ORIGIN")
        }
        _ => (to, "DESTINATION"),
    })
}

fn line_taxes(taxing: &AddressRow, situs: &str, taxable: Decimal, decimals: u32) -> Vec<wire::Tax> {
    let zero = Rounding::HalfUp.round(Decimal::ZERO, decimals);
    taxing
        .jurisdictions
        .iter()
        .map(|j| {
            let charged = !taxable.is_zero() && !j.rate.is_zero();
            wire::Tax {
                jurisdiction: wire::Jurisdiction {
                    jurisdiction_type: j.kind.clone(),
                    jurisdiction_id: j.id.clone(),
                    value: j.name.clone(),
                },
                tax_result: if charged { "TAXABLE" } else { "NONTAXABLE" }.to_string(),
                situs: situs.to_string(),
                effective_rate: j.rate / Decimal::ONE_HUNDRED,
                taxable: if charged { taxable } else { zero },
                calculated_tax: Rounding::HalfUp
                    .round(taxable * j.rate / Decimal::ONE_HUNDRED, decimals),
            }
        })
        .collect()
}
