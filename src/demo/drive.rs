//! Posts a scenario through the HTTP API: parties first, then each day's invoices in batches,
//! its payments and credit notes with bounded concurrency, then the month's commission
//! statements and the month-end payout run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use rust_decimal::Decimal;
use serde_json::Value;

use super::client::ApiClient;
use super::requests::{self, CreditRequest};
use super::scenario::{CreditScope, Invoice, PaymentAmount, PlatformRole, Scenario};
use crate::money::{Currency, Rounding};

/// Invoices sent in one `POST /v1/batches`.
const INVOICES_PER_BATCH: usize = 250;

/// Counts of the documents one run posted.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    /// Documents posted, by kind.
    pub documents: BTreeMap<&'static str, u64>,
    /// Scenario events that had nothing left to do (a payment of an invoice already settled
    /// by a refund), by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Customers posted with a VAT id that fails its check digits: the service keeps the id
    /// and taxes them as consumers.
    pub failed_vat_ids: u64,
    pub elapsed: Duration,
    /// Wall time spent posting each kind of document.
    pub phases: BTreeMap<&'static str, Duration>,
}

impl Posted {
    pub fn total(&self) -> u64 {
        self.documents.values().sum()
    }
}

/// An invoice as the service stored it.
#[derive(Debug, Clone)]
struct Stored {
    id: String,
    customer_id: String,
    total: Decimal,
    /// Net amount of each line.
    line_nets: Vec<Decimal>,
    /// Open amount, as the service last reported it.
    open: Decimal,
}

/// Shared state of one run.
struct Run<'a> {
    client: &'a ApiClient,
    scenario: &'a Scenario,
    concurrency: usize,
    progress: &'a ProgressBar,
    parties: HashMap<String, String>,
    invoices: Mutex<HashMap<String, Stored>>,
    posted: Mutex<Posted>,
}

/// Counts every document the scenario posts, for the progress bar.
pub fn document_count(scenario: &Scenario) -> u64 {
    let events: usize = scenario
        .invoices
        .iter()
        .map(|invoice| 1 + invoice.payments.len() + usize::from(invoice.credit.is_some()))
        .sum();
    let parties = 1 + scenario.header.partners.len() + scenario.customers.len();
    (parties + events + commission_statements(scenario).len() + 1) as u64
}

/// Partners and currencies that need a commission statement for the month: those with agent
/// sales, whose commission the platform invoices to the partner.
fn commission_statements(scenario: &Scenario) -> BTreeSet<(&str, &str)> {
    scenario
        .invoices
        .iter()
        .filter(|invoice| {
            scenario
                .partner(&invoice.partner)
                .is_some_and(|p| p.agreement.platform_role == PlatformRole::Agent)
        })
        .map(|invoice| (invoice.partner.as_str(), invoice.currency.as_str()))
        .collect()
}

/// Posts the whole scenario and returns what was posted.
pub async fn post_scenario(
    client: &ApiClient,
    scenario: &Scenario,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Posted> {
    let started = Instant::now();
    let mut run = Run {
        client,
        scenario,
        concurrency: concurrency.max(1),
        progress,
        parties: HashMap::new(),
        invoices: Mutex::new(HashMap::new()),
        posted: Mutex::new(Posted::default()),
    };
    let started_parties = Instant::now();
    run.post_parties().await?;
    let parties_took = started_parties.elapsed();
    for day in days(scenario) {
        run.post_day(day).await?;
    }
    run.timed("commission statements", run.post_commission_statements()).await?;
    run.timed("payout runs", run.post_payout_run()).await?;
    let mut posted = run.posted.into_inner().map_err(|_| anyhow!("a posting task panicked"))?;
    posted.elapsed = started.elapsed();
    posted.phases.insert("parties", parties_took);
    Ok(posted)
}

fn days(scenario: &Scenario) -> Vec<NaiveDate> {
    scenario
        .header
        .first_day
        .iter_days()
        .take_while(|day| *day <= scenario.header.last_day)
        .collect()
}

impl Run<'_> {
    fn count(&self, kind: &'static str) {
        if let Ok(mut posted) = self.posted.lock() {
            *posted.documents.entry(kind).or_default() += 1;
        }
        self.progress.inc(1);
    }

    /// Runs `phase` and adds its wall time to `kind`'s.
    async fn timed<T>(&self, kind: &'static str, phase: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let output = phase.await;
        if let Ok(mut posted) = self.posted.lock() {
            *posted.phases.entry(kind).or_default() += started.elapsed();
        }
        output
    }

    fn skip(&self, kind: &'static str) {
        if let Ok(mut posted) = self.posted.lock() {
            *posted.skipped.entry(kind).or_default() += 1;
        }
        self.progress.inc(1);
    }

    async fn post_parties(&mut self) -> anyhow::Result<()> {
        self.progress.set_message("parties");
        let header = &self.scenario.header;
        let mut bodies = vec![("platform".to_string(), requests::platform(&header.platform))];
        bodies.extend(header.partners.iter().map(|p| (p.key.clone(), requests::partner(p))));
        bodies
            .extend(self.scenario.customers.iter().map(|c| (c.key.clone(), requests::customer(c))));
        let failing_vat_ids: BTreeSet<&str> = self
            .scenario
            .customers
            .iter()
            .filter(|c| c.vat_id_valid == Some(false))
            .map(|c| c.key.as_str())
            .collect();
        // The platform comes first: partners' and customers' documents name it.
        let (platform_key, platform_body) = bodies.remove(0);
        let platform_id = self.post_party(&platform_key, &platform_body).await?;
        let run = &*self;
        let ids: Vec<(String, String)> = futures::stream::iter(bodies)
            .map(|(key, body)| {
                let failing_vat_id = failing_vat_ids.contains(key.as_str());
                async move {
                    let id = if failing_vat_id {
                        run.post_party_with_failing_vat_id(&key, body).await?
                    } else {
                        run.post_party(&key, &body).await?
                    };
                    anyhow::Ok((key, id))
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        self.parties.insert(platform_key, platform_id);
        self.parties.extend(ids);
        Ok(())
    }

    async fn post_party(&self, key: &str, body: &Value) -> anyhow::Result<String> {
        let response = self.client.post("/v1/parties", &format!("demo-party-{key}"), body).await?;
        self.count("parties");
        id_of(&response).with_context(|| format!("party {key}"))
    }

    /// Posts a customer whose VAT id fails its check digits. The service keeps the id, marks
    /// its check failed and taxes the customer as a consumer.
    async fn post_party_with_failing_vat_id(
        &self,
        key: &str,
        body: Value,
    ) -> anyhow::Result<String> {
        let response = self.client.post("/v1/parties", &format!("demo-party-{key}"), &body).await?;
        if response["vat_id_check"] != "failed" {
            let check = &response["vat_id_check"];
            return Err(anyhow!("party {key}: expected a failed VAT id check, got {check}"));
        }
        if let Ok(mut posted) = self.posted.lock() {
            posted.failed_vat_ids += 1;
        }
        self.count("parties");
        id_of(&response).with_context(|| format!("party {key}"))
    }

    fn party(&self, key: &str) -> anyhow::Result<&str> {
        self.parties
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("party {key} was not created"))
    }

    async fn post_day(&self, day: NaiveDate) -> anyhow::Result<()> {
        self.progress.set_message(format!("{day}"));
        let invoices: Vec<&Invoice> =
            self.scenario.invoices.iter().filter(|i| i.issued_at.date_naive() == day).collect();
        self.timed("invoices", self.post_invoices_in_order(&invoices)).await?;
        let payments: Vec<(&Invoice, usize)> = self
            .scenario
            .invoices
            .iter()
            .flat_map(|i| (0..i.payments.len()).map(move |n| (i, n)))
            .filter(|(i, n)| i.payments[*n].at.date_naive() == day)
            .collect();
        let payments = self.for_each(payments, |(invoice, n)| self.post_payment(invoice, n));
        self.timed("payments", payments).await?;
        // Credit notes are numbered in their issuer's series, in order of issue: one issuer's
        // credits go one at a time, different issuers' at once.
        let mut credits: Vec<&Invoice> = self
            .scenario
            .invoices
            .iter()
            .filter(|i| i.credit.as_ref().is_some_and(|c| c.at.date_naive() == day))
            .collect();
        credits.sort_by_key(|i| i.credit.as_ref().map(|c| c.at));
        let mut by_issuer: BTreeMap<&str, Vec<&Invoice>> = BTreeMap::new();
        for invoice in credits {
            by_issuer.entry(self.issuer_key(invoice)).or_default().push(invoice);
        }
        let credits = self.for_each(by_issuer.into_values().collect(), |credits| async move {
            for invoice in credits {
                self.post_credit(invoice).await?;
            }
            Ok(())
        });
        self.timed("credit notes", credits).await
    }

    /// Returns the scenario key of the party that issues `invoice` and its credit notes: the
    /// partner when the platform sells as its agent, the platform when it is the supplier.
    fn issuer_key<'s>(&'s self, invoice: &'s Invoice) -> &'s str {
        let supplier = self
            .scenario
            .partner(&invoice.partner)
            .is_some_and(|p| p.agreement.platform_role == PlatformRole::Supplier);
        if supplier {
            "platform"
        } else {
            invoice.partner.as_str()
        }
    }

    /// Posts `invoices` (in issue order) through `POST /v1/batches`, one batch after the other.
    /// A batch prices its invoices in order, so numbers follow issue instants within a
    /// partner's series and a customer's unapplied credit goes to its next invoice, and the
    /// books are the same on every run.
    async fn post_invoices_in_order(&self, invoices: &[&Invoice]) -> anyhow::Result<()> {
        for chunk in invoices.chunks(INVOICES_PER_BATCH) {
            let mut documents = Vec::with_capacity(chunk.len());
            let mut customers = Vec::with_capacity(chunk.len());
            for invoice in chunk {
                let customer_id = self.party(&invoice.customer)?;
                let partner_id = self.party(&invoice.partner)?;
                let body = requests::invoice(self.scenario, invoice, customer_id, partner_id);
                documents.push(serde_json::json!({
                    "type": "invoice",
                    "idempotency_key": format!("demo-{}", invoice.key),
                    "body": body,
                }));
                customers.push(customer_id);
            }
            let first = &chunk[0].key;
            let batch = serde_json::json!({ "documents": documents });
            let response =
                self.client.post("/v1/batches", &format!("demo-batch-{first}"), &batch).await?;
            let results = response["results"]
                .as_array()
                .ok_or_else(|| anyhow!("the batch from invoice {first} has no results"))?;
            if results.len() != chunk.len() {
                return Err(anyhow!(
                    "the batch from invoice {first} has {} results",
                    results.len()
                ));
            }
            for ((invoice, customer_id), result) in chunk.iter().zip(customers).zip(results) {
                if result["status"] != 201 {
                    let (status, body) = (&result["status"], &result["body"]);
                    return Err(anyhow!("invoice {} was rejected: {status} {body}", invoice.key));
                }
                let stored = stored_invoice(&result["body"], customer_id)
                    .with_context(|| format!("invoice {}", invoice.key))?;
                self.invoices
                    .lock()
                    .map_err(|_| anyhow!("lock poisoned"))?
                    .insert(invoice.key.clone(), stored);
                self.count("invoices");
            }
        }
        Ok(())
    }

    async fn for_each<T, F, Fut>(&self, items: Vec<T>, post: F) -> anyhow::Result<()>
    where
        F: Fn(T) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        futures::stream::iter(items)
            .map(post)
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await
    }

    fn stored(&self, key: &str) -> anyhow::Result<Stored> {
        let invoices = self.invoices.lock().map_err(|_| anyhow!("lock poisoned"))?;
        invoices.get(key).cloned().ok_or_else(|| anyhow!("invoice {key} was not posted"))
    }

    fn set_open(&self, key: &str, open: Decimal) -> anyhow::Result<()> {
        let mut invoices = self.invoices.lock().map_err(|_| anyhow!("lock poisoned"))?;
        if let Some(stored) = invoices.get_mut(key) {
            stored.open = open;
        }
        Ok(())
    }

    async fn post_payment(&self, invoice: &Invoice, index: usize) -> anyhow::Result<()> {
        let stored = self.stored(&invoice.key)?;
        let currency = Currency::parse(&invoice.currency)?;
        let open = stored.open.max(Decimal::ZERO);
        let (amount, allocated) = match &invoice.payments[index].amount {
            PaymentAmount::Rest => (open, open),
            PaymentAmount::Share(share) => {
                let part = currency.round(stored.total * share, Rounding::HalfUp).min(open);
                (part, part)
            }
            PaymentAmount::RestPlus(extra) => (open + extra, open),
        };
        if allocated <= Decimal::ZERO {
            self.skip("payments");
            return Ok(());
        }
        let reference = format!("{}-payment-{}", invoice.key, index + 1);
        let body = requests::payment(
            &stored.customer_id,
            &invoice.currency,
            invoice.payments[index].at,
            amount,
            &stored.id,
            allocated,
            &reference,
        );
        let response =
            self.client.post("/v1/payments", &format!("demo-{reference}"), &body).await?;
        let residual = amount_of(&response["allocations"][0], "residual")
            .with_context(|| format!("payment {reference}"))?;
        self.set_open(&invoice.key, residual)?;
        self.count("payments");
        Ok(())
    }

    async fn post_credit(&self, invoice: &Invoice) -> anyhow::Result<()> {
        let Some(credit) = &invoice.credit else { return Ok(()) };
        let stored = self.stored(&invoice.key)?;
        let currency = Currency::parse(&invoice.currency)?;
        let request = match &credit.scope {
            CreditScope::Full => CreditRequest::Full,
            CreditScope::Line { line, quantity } => {
                CreditRequest::Quantity { line: *line, quantity: *quantity }
            }
            CreditScope::Share(share) => {
                let net = stored.line_nets.first().copied().unwrap_or_default();
                CreditRequest::Amount {
                    line: 0,
                    net: currency.round(net * share, Rounding::HalfUp),
                }
            }
        };
        let body = requests::credit_note(&stored.id, credit.at, &request);
        let key = format!("demo-{}-credit", invoice.key);
        let response = self.client.post("/v1/credit-notes", &key, &body).await?;
        let applied = amount_of(&response, "applied_to_open")
            .with_context(|| format!("credit note of {}", invoice.key))?;
        self.set_open(&invoice.key, stored.open - applied)?;
        self.count("credit notes");
        Ok(())
    }

    /// Issues the month's commission statements, one at a time because they share the
    /// platform's series, the day after the month ends.
    async fn post_commission_statements(&self) -> anyhow::Result<()> {
        self.progress.set_message("commission statements");
        let header = &self.scenario.header;
        let period = header.last_day.format("%Y-%m").to_string();
        let issued_at = (header.last_day + chrono::Days::new(1))
            .and_hms_opt(12, 0, 0)
            .map(|local| local.and_utc())
            .ok_or_else(|| anyhow!("no noon after {}", header.last_day))?;
        for (partner, currency) in commission_statements(self.scenario) {
            let body =
                requests::commission_statement(self.party(partner)?, currency, &period, issued_at);
            let key = format!("demo-commission-{partner}-{currency}-{period}");
            self.client.post("/v1/commission-statements", &key, &body).await?;
            self.count("commission statements");
        }
        Ok(())
    }

    async fn post_payout_run(&self) -> anyhow::Result<()> {
        self.progress.set_message("payout run");
        let as_of = self.scenario.header.payout_as_of;
        let body = requests::payout_run(as_of);
        self.client.post("/v1/payout-runs", &format!("demo-payout-run-{as_of}"), &body).await?;
        self.count("payout runs");
        Ok(())
    }
}

/// Reads what the driver keeps of an invoice from the service's response.
fn stored_invoice(response: &Value, customer_id: &str) -> anyhow::Result<Stored> {
    let lines =
        response["lines"].as_array().ok_or_else(|| anyhow!("the response has no `lines`"))?;
    Ok(Stored {
        id: id_of(response)?,
        customer_id: customer_id.to_string(),
        total: amount_of(response, "total")?,
        line_nets: lines.iter().map(|line| amount_of(line, "net")).collect::<Result<_, _>>()?,
        open: amount_of(response, "residual")?,
    })
}

fn id_of(response: &Value) -> anyhow::Result<String> {
    match &response["id"] {
        Value::String(id) => Ok(id.clone()),
        other => Err(anyhow!("the response has no string `id`: {other}")),
    }
}

fn amount_of(response: &Value, field: &str) -> anyhow::Result<Decimal> {
    let text =
        response[field].as_str().ok_or_else(|| anyhow!("the response has no amount `{field}`"))?;
    text.parse().with_context(|| format!("the response's `{field}` is not an amount: {text}"))
}
