//! The external tax provider for sales to the United States: the trait, its HTTP client, the
//! request built from a `TaxInput`, the determination built from the response, and a stub
//! server that responds like the provider.

pub mod http;
pub mod jurisdiction;
pub mod stub;
pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

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

/// Failure of a provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the tax provider did not answer in time")]
    Timeout,
    #[error("cannot reach the tax provider: {0}")]
    Connect(String),
    /// A 5xx or 408 (request timeout): the provider could not handle the call now.
    #[error("the tax provider failed with HTTP {status}")]
    Server { status: u16 },
    /// A 429: the provider is over its rate limit. `retry_after` is its `Retry-After` header,
    /// when given as seconds or as an HTTP date.
    #[error("the tax provider is over its rate limit (HTTP 429)")]
    Throttled { retry_after: Option<Duration> },
    /// A 400, 413 or 422, which are about the request itself: the provider cannot tax this
    /// sale as sent, so sending it again fails too.
    #[error("the tax provider rejected the request with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// A 409: the provider's state conflicts with this request, such as a document number it
    /// has already recorded. Not repeated at once and not final, and about this request only.
    #[error("the tax provider reported a conflict (HTTP 409): {message}")]
    Conflict { message: String },
    /// Any other 4xx but 408, 409 and 429, such as 401, 403, 404 or 415: the provider turned the
    /// service away (credentials, URL, format), whatever the sale. Repeating at once does not
    /// help, but later may. `message` is the response body, which the error's text leaves out
    /// because API clients see that text.
    #[error("the tax provider refused the call with HTTP {status}")]
    Refused { status: u16, message: String },
    #[error("the tax provider's response is not valid: {0}")]
    Malformed(String),
}

impl ProviderError {
    /// Tells whether a retry may succeed: after a timeout, a connection failure, a 5xx, a 408
    /// or a 429.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout
                | ProviderError::Connect(_)
                | ProviderError::Server { .. }
                | ProviderError::Throttled { .. }
        )
    }

    /// Tells whether the next call would most likely fail the same way whatever it carries:
    /// the provider cannot be reached, turned the service away or is over its rate limit.
    pub fn is_provider_wide(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout
                | ProviderError::Connect(_)
                | ProviderError::Refused { .. }
                | ProviderError::Throttled { .. }
        )
    }

    /// Returns the error's text with the provider's response body where the text leaves it
    /// out, for logs and the outbox, never for API clients.
    pub fn detail(&self) -> String {
        match self {
            ProviderError::Refused { message, .. } if !message.is_empty() => {
                format!("{self}: {message}")
            }
            _ => self.to_string(),
        }
    }
}

/// The provider's response, parsed and as received.
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

/// Builds a determination from the provider's reply, checking that it covers every line and
/// that its amounts add up and fit the currency.
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
            "{} lines returned for {} sent",
            data.line_items.len(),
            input.lines.len()
        )));
    }
    let liable = parties.supplier_liability;
    let keys = data
        .line_items
        .iter()
        .map(|line| jurisdiction_keys(line, parties))
        .collect::<Result<Vec<_>, _>>()?;

    // Jurisdictions in order of first appearance, each with its column in the line shares.
    let mut columns: BTreeMap<String, usize> = BTreeMap::new();
    let mut taxes: Vec<TaxLine> = Vec::new();
    for (line, line_keys) in data.line_items.iter().zip(&keys) {
        for (tax, key) in line.taxes.iter().zip(line_keys) {
            if !columns.contains_key(key) {
                columns.insert(key.clone(), taxes.len());
                taxes.push(tax_line(key.clone(), tax, liable));
            }
        }
    }

    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, ((sent, answered), line_keys)) in
        input.lines.iter().zip(&data.line_items).zip(&keys).enumerate()
    {
        if answered.line_item_number as usize != i + 1 || answered.extended_price != sent.amount {
            return Err(ProviderError::Malformed(format!(
                "line {} does not match the request",
                i + 1
            )));
        }
        let net = exact(currency, sent.amount)?;
        let mut shares =
            vec![LineShare { taxable: Decimal::ZERO, amount: Decimal::ZERO }; taxes.len()];
        for (tax, key) in answered.taxes.iter().zip(line_keys) {
            let column = columns[key];
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
        buyer_tax_id_unused: parties.buyer_tax_id_unused.clone(),
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

/// Names the jurisdictions of one response line: local levels go under the state of the line's
/// state-level tax, or under the buyer's state when the provider returned none.
fn jurisdiction_keys(
    line: &wire::ResponseLine,
    parties: &Parties,
) -> Result<Vec<String>, ProviderError> {
    let state_tax = line.taxes.iter().find(|tax| tax.jurisdiction.jurisdiction_type == "STATE");
    let state = match state_tax {
        Some(tax) => jurisdiction::state_code(&tax.jurisdiction.jurisdiction_id),
        None => parties.buyer_subdivision.clone(),
    };
    let unknown = |tax: &wire::Tax| {
        ProviderError::Malformed(format!(
            "line {}: state jurisdiction id {} is not a US state FIPS code",
            line.line_item_number, tax.jurisdiction.jurisdiction_id
        ))
    };
    let state = match (state, state_tax) {
        (Some(state), _) => state,
        (None, Some(tax)) => return Err(unknown(tax)),
        (None, None) => {
            return Err(ProviderError::Malformed(format!(
                "line {} has no state jurisdiction and the buyer has no state",
                line.line_item_number
            )))
        }
    };
    line.taxes
        .iter()
        .map(|tax| jurisdiction::code(tax, &state).ok_or_else(|| unknown(tax)))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tax::{fixtures, rules};
    use rust_decimal_macros::dec;

    fn sale() -> TaxInput {
        serde_json::from_value(serde_json::json!({
            "seller": { "domicile": { "country": "US", "subdivision": "NY", "postal_code": "10001" },
                        "kind": "business" },
            "buyer": { "domicile": { "country": "US", "subdivision": "WA", "postal_code": "98101" },
                       "kind": "consumer" },
            "platform_role": "none",
            "product": "saas",
            "currency": "USD",
            "lines": [{ "amount": "100.00" }],
            "tax_point": "2025-06-01T12:00:00Z"
        }))
        .unwrap()
    }

    fn reply(line_tax: &str, total_tax: &str, calculated: &str) -> ProviderReply {
        let raw = serde_json::json!({ "data": {
            "saleMessageType": "QUOTATION", "subTotal": "100.00", "totalTax": total_tax,
            "total": "110.00",
            "lineItems": [{
                "lineItemNumber": 1, "extendedPrice": "100.00", "totalTax": line_tax,
                "taxes": [{
                    "jurisdiction": { "jurisdictionType": "STATE", "jurisdictionId": "53",
                                      "value": "WASHINGTON" },
                    "taxResult": "TAXABLE", "situs": "DESTINATION", "effectiveRate": "0.065",
                    "taxable": "100.00", "calculatedTax": calculated
                }]
            }]
        }});
        ProviderReply { response: serde_json::from_value(raw.clone()).unwrap(), raw }
    }

    fn map(reply: ProviderReply) -> Result<Determination, ProviderError> {
        let input = sale();
        let book = fixtures::rate_book().unwrap();
        let parties = rules::parties(&book, &input).unwrap();
        determination(&input, &parties, input.tax_point.date_naive(), reply)
    }

    #[test]
    fn consistent_reply_maps_to_tax_lines() {
        let result = map(reply("6.50", "6.50", "6.50")).unwrap();
        assert_eq!(result.taxes[0].jurisdiction, "US-WA");
        assert_eq!(result.taxes[0].rate, dec!(6.5));
        assert_eq!(result.tax_total, dec!(6.50));
        assert!(result.provider_response.is_some());
    }

    #[test]
    fn inconsistent_reply_is_malformed() {
        assert!(matches!(map(reply("6.50", "6.51", "6.50")), Err(ProviderError::Malformed(_))));
        assert!(matches!(map(reply("6.40", "6.40", "6.50")), Err(ProviderError::Malformed(_))));
        assert!(matches!(map(reply("6.505", "6.505", "6.505")), Err(ProviderError::Malformed(_))));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(ProviderError::Timeout.is_retryable());
        assert!(ProviderError::Server { status: 503 }.is_retryable());
        assert!(ProviderError::Throttled { retry_after: None }.is_retryable());
    }

    #[test]
    fn provider_wide_failures_stop_sending() {
        assert!(ProviderError::Timeout.is_provider_wide());
        assert!(ProviderError::Refused { status: 401, message: String::new() }.is_provider_wide());
        assert!(ProviderError::Throttled { retry_after: None }.is_provider_wide());
        assert!(!ProviderError::Server { status: 500 }.is_provider_wide());
        assert!(!ProviderError::Malformed(String::new()).is_provider_wide());
        assert!(!ProviderError::Conflict { message: String::new() }.is_provider_wide());
        assert!(!ProviderError::Conflict { message: String::new() }.is_retryable());
        assert!(!ProviderError::Rejected { status: 400, message: String::new() }.is_provider_wide());
        assert!(!ProviderError::Rejected { status: 400, message: String::new() }.is_retryable());
        assert!(!ProviderError::Refused { status: 401, message: String::new() }.is_retryable());
        assert!(!ProviderError::Malformed(String::new()).is_retryable());
    }
}
