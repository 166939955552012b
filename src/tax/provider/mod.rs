//! The external tax provider for sales to the United States: the trait, its HTTP client, the
//! request built from a `TaxInput`, the determination built from the response, and a stub
//! server that answers like the provider.

pub mod http;
pub mod stub;
pub mod wire;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{
    Determination, DeterminationSource, Liability, LineShare, LineTax, PartyKind, RoundingScope,
    TaxInput, TaxLine,
};
use super::rules::Parties;
use wire::{CalculationRequest, CalculationResponse, SaleMessageType};

pub use http::HttpProvider;

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the tax provider did not answer in time")]
    Timeout,
    #[error("cannot reach the tax provider: {0}")]
    Connect(String),
    #[error("the tax provider failed with HTTP {status}")]
    Server { status: u16 },
    #[error("the tax provider rejected the request with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    #[error("the tax provider's response is not valid: {0}")]
    Malformed(String),
}

impl ProviderError {
    /// Whether a retry may succeed: timeouts, connection failures and 5xx answers.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout | ProviderError::Connect(_) | ProviderError::Server { .. }
        )
    }
}

/// The provider's answer: the parsed response and the body as received.
#[derive(Debug, Clone)]
pub struct ProviderReply {
    pub response: CalculationResponse,
    pub raw: serde_json::Value,
}

/// An external tax provider.
#[async_trait]
pub trait TaxProvider: Send + Sync {
    async fn calculate(&self, request: &CalculationRequest)
        -> Result<ProviderReply, ProviderError>;
}

/// Builds the provider request for `input`.
pub fn request(
    input: &TaxInput,
    parties: &Parties,
    message: SaleMessageType,
    document_number: Option<&str>,
    document_date: NaiveDate,
) -> CalculationRequest {
    let address = |party: &super::model::Party| wire::Address {
        street_address1: party.domicile.street.clone(),
        city: party.domicile.city.clone(),
        main_division: party
            .domicile
            .subdivision
            .as_deref()
            .map(|code| code.rsplit('-').next().unwrap_or(code).to_string()),
        postal_code: party.domicile.postal_code.clone(),
        country: party.domicile.country.clone(),
    };
    let class_code = match parties.buyer_kind {
        PartyKind::Business => "BUSINESS",
        PartyKind::Consumer => "CONSUMER",
    };
    CalculationRequest {
        sale_message_type: message,
        transaction_type: "SALE".to_string(),
        document_number: document_number.map(str::to_string),
        document_date,
        currency: input.currency.code().to_string(),
        seller: wire::Seller { physical_origin: address(&input.seller) },
        customer: wire::Customer {
            customer_code: wire::CustomerCode { class_code: class_code.to_string() },
            destination: address(&input.buyer),
        },
        line_items: input
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| wire::RequestLine {
                line_item_number: i as u32 + 1,
                quantity: wire::Quantity { value: line.quantity },
                extended_price: line.amount,
                product: wire::Product { product_class: input.product.as_str().to_string() },
            })
            .collect(),
    }
}

/// Builds a determination from the provider's reply, checking that it answers every line
/// and that its amounts add up and fit the currency.
pub fn determination(
    input: &TaxInput,
    parties: &Parties,
    tax_date: NaiveDate,
    reply: ProviderReply,
) -> Result<Determination, ProviderError> {
    let data = &reply.response.data;
    let currency = input.currency;
    if data.line_items.len() != input.lines.len() {
        return Err(ProviderError::Malformed(format!(
            "{} lines answered for {} sent",
            data.line_items.len(),
            input.lines.len()
        )));
    }
    let liable = parties.supplier_liability;

    // Jurisdictions in order of first appearance, each with its column in the line shares.
    let mut columns: BTreeMap<String, usize> = BTreeMap::new();
    let mut taxes: Vec<TaxLine> = Vec::new();
    for line in &data.line_items {
        for tax in &line.taxes {
            let key = jurisdiction_key(tax);
            if !columns.contains_key(&key) {
                columns.insert(key.clone(), taxes.len());
                taxes.push(tax_line(key, tax, liable));
            }
        }
    }

    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, (sent, answered)) in input.lines.iter().zip(&data.line_items).enumerate() {
        if answered.line_item_number as usize != i + 1 || answered.extended_price != sent.amount {
            return Err(ProviderError::Malformed(format!(
                "line {} does not match the request",
                i + 1
            )));
        }
        let net = exact(currency, sent.amount)?;
        let mut shares =
            vec![LineShare { taxable: Decimal::ZERO, amount: Decimal::ZERO }; taxes.len()];
        for tax in &answered.taxes {
            let column = columns[&jurisdiction_key(tax)];
            shares[column].taxable += exact(currency, tax.taxable)?;
            shares[column].amount += exact(currency, tax.calculated_tax)?;
        }
        let tax: Decimal = shares.iter().map(|share| share.amount).sum();
        if tax != answered.total_tax {
            return Err(ProviderError::Malformed(format!(
                "line {} total tax {} is not the sum of its taxes {tax}",
                i + 1,
                answered.total_tax
            )));
        }
        let tax = exact(currency, tax)?;
        lines.push(LineTax { net, tax, gross: net + tax, taxes: shares });
    }
    for (column, tax) in taxes.iter_mut().enumerate() {
        tax.taxable = exact(currency, lines.iter().map(|line| line.taxes[column].taxable).sum())?;
        tax.amount = exact(currency, lines.iter().map(|line| line.taxes[column].amount).sum())?;
    }
    let net_total = exact(currency, lines.iter().map(|line| line.net).sum())?;
    let tax_total = exact(currency, taxes.iter().map(|tax| tax.amount).sum())?;
    if tax_total != data.total_tax {
        return Err(ProviderError::Malformed(format!(
            "total tax {} is not the sum of the line taxes {tax_total}",
            data.total_tax
        )));
    }
    Ok(Determination {
        rule: "us.sales_tax.provider".to_string(),
        supplier: if liable == Liability::Platform { "platform" } else { "seller" }.to_string(),
        supplier_rule: parties.supplier_rule.clone(),
        buyer_treated_as: parties.buyer_kind,
        buyer_tax_id: parties.buyer_tax_id.clone(),
        source: DeterminationSource::Provider,
        tax_estimated: false,
        currency,
        prices_include_tax: false,
        tax_point: input.tax_point,
        tax_date,
        taxes,
        lines,
        net_total,
        tax_total,
        gross_total: net_total + tax_total,
        legal_mentions: Vec::new(),
        provider_response: Some(reply.raw),
    })
}

fn jurisdiction_key(tax: &wire::Tax) -> String {
    format!("US:{}:{}", tax.jurisdiction.jurisdiction_type, tax.jurisdiction.jurisdiction_id)
}

fn tax_line(key: String, tax: &wire::Tax, liable: Liability) -> TaxLine {
    let level = match tax.jurisdiction.jurisdiction_type.as_str() {
        "STATE" => "state",
        "COUNTY" => "county",
        "CITY" => "city",
        _ => "special_district",
    };
    let rule = match (tax.tax_result.as_str(), tax.situs.as_str()) {
        ("TAXABLE", "ORIGIN") => "us.sales_tax.origin",
        ("TAXABLE", _) => "us.sales_tax.destination",
        _ => "us.sales_tax.nontaxable",
    };
    TaxLine {
        jurisdiction: key,
        jurisdiction_name: tax.jurisdiction.value.clone(),
        level: level.to_string(),
        tax_name: "sales tax".to_string(),
        rule: rule.to_string(),
        rate: (tax.effective_rate * Decimal::ONE_HUNDRED).normalize(),
        taxable: Decimal::ZERO,
        amount: Decimal::ZERO,
        liable: if rule == "us.sales_tax.nontaxable" { Liability::Nobody } else { liable },
        legal_mention: None,
        rate_source: "external tax provider".to_string(),
        rounding: RoundingScope::Line,
    }
}

fn exact(currency: crate::money::Currency, amount: Decimal) -> Result<Decimal, ProviderError> {
    currency
        .exact(amount)
        .map_err(|err| ProviderError::Malformed(format!("amount {amount}: {err}")))
}
