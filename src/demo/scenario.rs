//! The demo scenario: one platform tenant's month of marketplace billing, as plain data.
//!
//! A scenario is a directory of three files: `scenario.json` (the month, the platform and the
//! partners with their agreements and catalogs), `customers.jsonl` and `invoices.jsonl` (one
//! JSON object per line). Each invoice carries the payments and the credit note that follow it,
//! so a reader sees a document's whole life on one line. Amounts that depend on tax (what a
//! full payment pays) are stated as rules and resolved against the service's response.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A whole scenario, in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub header: Header,
    pub customers: Vec<Customer>,
    pub invoices: Vec<Invoice>,
}

/// The contents of `scenario.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Seed and scale that regenerate this scenario byte for byte.
    pub seed: u64,
    pub scale: Scale,
    /// First and last day of the month the documents fall in.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The day the month-end payout run is made for.
    pub payout_as_of: NaiveDate,
    pub platform: Platform,
    pub partners: Vec<Partner>,
}

/// Size of a generated scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// A few hundred documents, for tests.
    Small,
    /// The marketplace month of the demo: over 20,000 invoices.
    Full,
}

/// Address where a party is established or lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domicile {
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// ISO 3166-2 subdivision code without the country prefix (`TX`, `QC`), where tax
    /// depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub street: String,
    /// IANA time zone name.
    pub time_zone: String,
}

/// The marketplace operator whose books the demo keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    pub name: String,
    pub domicile: Domicile,
    pub vat_id: String,
}

/// A seller on the platform, with its agreement and what it sells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    /// Scenario-local reference, such as `P07`.
    pub key: String,
    pub name: String,
    pub domicile: Domicile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    pub agreement: Agreement,
    pub products: Vec<Product>,
}

/// The commercial terms between the platform and one partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Whether the platform sells as the partner's agent or as the supplier for tax.
    pub platform_role: PlatformRole,
    pub commission: Commission,
    /// Party that keeps the commission of a refunded sale.
    pub refund_commission: RefundCommission,
    /// Smallest payout per currency; smaller balances wait for the next run.
    pub minimum_payout: BTreeMap<String, Decimal>,
    /// Days after a customer's payment before its share may be paid out.
    pub payout_delay_days: u32,
    /// Currencies the partner accepts, in ISO 4217 codes.
    pub currencies: Vec<String>,
}

/// Whether the platform sells on behalf of the partner or in its own name for tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    Agent,
    Supplier,
}

/// Party that keeps the commission when a sale is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundCommission {
    /// The commission is reversed with the sale.
    Reversed,
    /// The platform keeps the commission of a refunded sale.
    PlatformKeeps,
}

/// Commission on each sale: a percentage of the net amount, a fixed fee per item, or tiers of
/// percentages by the partner's revenue in the year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commission {
    /// Share of the net amount, such as `0.15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Decimal>,
    /// Fee per item sold, per currency.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fixed_fee: BTreeMap<String, Decimal>,
    /// Rates by the partner's revenue in the year, in ascending order of `up_to`; the last tier
    /// has no `up_to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
}

/// One band of a tiered commission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// Revenue in the year up to which this rate applies; `None` for the last band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<Decimal>,
    pub rate: Decimal,
}

/// Kind of product an invoice line sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// A one-off app purchase.
    App,
    /// A purchase inside an app.
    InApp,
    /// A monthly SaaS subscription, priced per seat.
    Subscription,
    /// Machine time, metered in hours from sensor readings.
    MachineHours,
    /// A training session, priced per participant.
    Training,
}

impl ProductKind {
    /// Returns the tax engine's product tax code for this kind.
    pub fn tax_code(self) -> &'static str {
        match self {
            ProductKind::App => "digital_good",
            ProductKind::InApp => "in_app_purchase",
            ProductKind::Subscription => "saas",
            ProductKind::MachineHours => "machine_use",
            ProductKind::Training => "online_training",
        }
    }
}

/// One item of a partner's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Scenario-local reference, such as `P07-2`.
    pub sku: String,
    pub name: String,
    pub kind: ProductKind,
}

/// A buyer: a consumer, or a business with or without a VAT id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Scenario-local reference, such as `C0042`.
    pub key: String,
    pub name: String,
    pub business: bool,
    pub domicile: Domicile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Whether `vat_id` passes its check digits. The few that fail do so on purpose, and a
    /// customer with one counts as a consumer for tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id_valid: Option<bool>,
    /// Currency the customer is invoiced in.
    pub currency: String,
}

/// One sale to one customer by one partner, with the payments and refund that follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// Scenario-local reference, such as `I000123`; also the idempotency key's stem.
    pub key: String,
    pub customer: String,
    pub partner: String,
    pub issued_at: DateTime<Utc>,
    /// Days from issue until payment is due; 0 means at checkout.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub due_days: u32,
    pub currency: String,
    /// Whether unit prices include tax (consumer prices in most countries) or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tax_included: bool,
    pub lines: Vec<Line>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Payment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
}

/// An invoice line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Discount off the line amount, in the invoice currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Decimal>,
    /// Hour-meter readings at the start and end of the billed period, for machine time; the
    /// quantity is their difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<[Decimal; 2]>,
}

/// A customer payment against one invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub at: DateTime<Utc>,
    pub amount: PaymentAmount,
}

/// How much a payment pays, relative to the invoice total the service computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentAmount {
    /// Whatever is still open on the invoice.
    Rest,
    /// This share of the invoice total, rounded half-up to the currency's minor unit.
    Share(Decimal),
    /// The open amount plus this much more, which becomes the customer's credit.
    RestPlus(Decimal),
}

/// A credit note (refund) against one invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    pub at: DateTime<Utc>,
    pub scope: CreditScope,
}

/// Part of an invoice that a credit note refunds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditScope {
    /// The whole invoice.
    Full,
    /// This quantity of one line, counted from 0.
    Line { line: usize, quantity: Decimal },
    /// This share of the invoice total, rounded half-up to the currency's minor unit.
    Share(Decimal),
}

impl Scenario {
    /// Reads a scenario directory.
    pub fn read(dir: &Path) -> anyhow::Result<Scenario> {
        let header_path = dir.join("scenario.json");
        let header_text = std::fs::read_to_string(&header_path)
            .with_context(|| format!("cannot read {}", header_path.display()))?;
        let header = serde_json::from_str(&header_text)
            .with_context(|| format!("invalid scenario header {}", header_path.display()))?;
        Ok(Scenario {
            header,
            customers: read_lines(&dir.join("customers.jsonl"))?,
            invoices: read_lines(&dir.join("invoices.jsonl"))?,
        })
    }

    /// Writes the scenario into `dir`, creating it, in the layout [`Scenario::read`] reads.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        let header_path = dir.join("scenario.json");
        let mut header = serde_json::to_string_pretty(&self.header)?;
        header.push('\n');
        std::fs::write(&header_path, header)
            .with_context(|| format!("cannot write {}", header_path.display()))?;
        write_lines(&dir.join("customers.jsonl"), &self.customers)?;
        write_lines(&dir.join("invoices.jsonl"), &self.invoices)
    }

    /// Finds a partner by its scenario key.
    pub fn partner(&self, key: &str) -> Option<&Partner> {
        self.header.partners.iter().find(|partner| partner.key == key)
    }
}

fn is_zero(days: &u32) -> bool {
    *days == 0
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut items = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let item = serde_json::from_str(&line)
            .with_context(|| format!("invalid JSON on line {} of {}", index + 1, path.display()))?;
        items.push(item);
    }
    Ok(items)
}

fn write_lines<T: Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush().with_context(|| format!("cannot write {}", path.display()))
}
