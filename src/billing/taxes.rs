//! Tax of billing documents, determined by the tax engine from the parties' domiciles: the
//! sale's tax per jurisdiction and the tax of the commission the platform charges a partner.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::parties::{Party, SellingRole, VatIdCheck};
use super::tax_errors::{RequestFields, RequestParty};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;
use crate::tax::outbox::Message;
use crate::tax::provider::wire::CalculationRequest;
use crate::tax::vat_id::TaxIdError;
use crate::tax::{self, Determination, Engine, Liability, PartyKind, PlatformRole, ProductTaxCode};

/// The party that owes a tax amount to the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liable {
    /// The partner is the supplier; the platform collects the tax for it.
    Partner,
    /// The platform is the supplier or deemed supplier.
    Platform,
    /// Reverse charge: the business customer accounts for the tax.
    Customer,
    /// Exempt or outside the scope of the tax.
    Nobody,
}

impl Liable {
    pub fn as_str(self) -> &'static str {
        match self {
            Liable::Partner => "partner",
            Liable::Platform => "platform",
            Liable::Customer => "customer",
            Liable::Nobody => "nobody",
        }
    }
}

/// Tax of a document for one jurisdiction and rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    pub jurisdiction: String,
    /// Rate in percent, as the tax engine states it.
    pub rate: Decimal,
    pub rule: String,
    pub liable: Liable,
    pub base: Decimal,
    pub amount: Decimal,
    /// Invoice lines (from 1) that carry a share of the tax.
    pub lines: Vec<i32>,
    pub legal_mention: Option<String>,
}

/// One invoice line to be taxed.
#[derive(Debug, Clone)]
pub struct TaxableLine {
    pub tax_code: ProductTaxCode,
    /// Net amount, or gross when prices include tax.
    pub amount: Decimal,
    pub quantity: Decimal,
}

/// The sale's tax: net amount per line, tax lines, the determinations to store as the audit
/// trail, each under its document kind, and the message that records the sale at the tax
/// provider when the provider determined some of it.
#[derive(Debug, Clone)]
pub struct SaleTax {
    pub nets: Vec<Decimal>,
    pub taxes: Vec<TaxLine>,
    pub determinations: Vec<(String, Determination)>,
    pub provider_message: Option<Message>,
}

/// The parties of a sale, for tax.
pub struct TaxParties<'a> {
    pub seller: &'a Party,
    pub customer: &'a Party,
    pub platform: &'a Party,
    pub role: SellingRole,
}

/// Parses a line's product tax code, naming the field when it is unknown.
pub fn parse_tax_code(code: &str, field: &str) -> Result<ProductTaxCode, Error> {
    serde_json::from_value(serde_json::Value::String(code.to_string())).map_err(|_| {
        Error::new(
            ErrorCode::InvalidField,
            "unknown tax code: expected electronic_service, saas, digital_good, \
             in_app_purchase, online_training, machine_use or physical_good",
        )
        .field(field)
        .value(code)
    })
}

fn tax_party(party: &Party) -> tax::Party {
    tax::Party {
        domicile: tax::Domicile {
            country: party.domicile.country.clone(),
            subdivision: party.domicile.subdivision.clone(),
            postal_code: party.domicile.postal_code.clone(),
            city: party.domicile.city.clone(),
            street: None,
            time_zone: party.domicile.time_zone.parse().ok(),
        },
        kind: if party.business { PartyKind::Business } else { PartyKind::Consumer },
        tax_id: party.vat_id.clone(),
        eu_below_distance_threshold: false,
    }
}

/// Determines the sale's tax. Lines are grouped by tax code, one determination per code, so
/// each group's tax is rounded as its jurisdiction requires.
pub async fn sale_tax(
    engine: &Engine,
    parties: &TaxParties<'_>,
    lines: &[TaxableLine],
    prices_include_tax: bool,
    currency: Currency,
    tax_point: DateTime<Utc>,
) -> Result<SaleTax, Error> {
    let mut groups: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        groups.entry(line.tax_code.as_str()).or_default().push(index);
    }
    let platform_role = match parties.role {
        SellingRole::Agent => PlatformRole::Agent,
        SellingRole::Supplier => PlatformRole::DeemedSupplier,
    };
    let seller_is = match parties.role {
        SellingRole::Agent => Liable::Partner,
        SellingRole::Supplier => Liable::Platform,
    };
    let mut sale = SaleTax {
        nets: vec![Decimal::ZERO; lines.len()],
        taxes: Vec::new(),
        determinations: Vec::new(),
        provider_message: None,
    };
    for (code, indexes) in groups {
        let input = tax::TaxInput {
            seller: tax_party(parties.seller),
            buyer: tax_party(parties.customer),
            platform: Some(tax_party(parties.platform)),
            platform_role,
            product: lines[indexes[0]].tax_code,
            currency,
            lines: indexes
                .iter()
                .map(|&i| tax::InputLine { amount: lines[i].amount, quantity: lines[i].quantity })
                .collect(),
            prices_include_tax,
            tax_point,
        };
        let fields = sale_fields(parties, &indexes, code, tax_point);
        let (determination, request) =
            engine.determine_for_document(&input).await.map_err(|err| fields.rename(err))?;
        if let Some(request) = request {
            add_to_sale_message(&mut sale.provider_message, request, &indexes);
        }
        for (position, &index) in indexes.iter().enumerate() {
            sale.nets[index] = determination.lines[position].net;
        }
        let line_numbers: Vec<i32> = indexes.iter().map(|&i| i as i32 + 1).collect();
        sale.taxes.extend(tax_lines(&determination, &line_numbers, seller_is));
        sale.determinations.push((format!("invoice_{code}"), determination));
    }
    Ok(sale)
}

/// Names the invoice request's fields behind the tax input of one tax code's lines.
fn sale_fields<'a>(
    parties: &TaxParties<'_>,
    indexes: &'a [usize],
    code: &'a str,
    tax_point: DateTime<Utc>,
) -> RequestFields<'a> {
    let party = |field, role, party: &Party| RequestParty { field, role, id: party.id };
    RequestFields {
        buyer: party(Some("customer_id"), "customer", parties.customer),
        seller: party(Some("seller_id"), "partner", parties.seller),
        platform: party(None, "platform", parties.platform),
        lines: indexes,
        tax_code: Some((format!("lines[{}].tax_code", indexes[0]), code)),
        tax_point: ("issued_at", tax_point),
    }
}

/// Adds the lines of one tax code's request to the sale's message, numbered as the invoice
/// lines `indexes` (from 0), so the provider records the whole invoice as one document.
fn add_to_sale_message(
    message: &mut Option<Message>,
    mut request: CalculationRequest,
    indexes: &[usize],
) {
    for (item, &index) in request.line_items.iter_mut().zip(indexes) {
        item.line_item_number = index as u32 + 1;
    }
    match message {
        Some(message) => {
            message.request.line_items.extend(request.line_items);
            message.request.line_items.sort_by_key(|item| item.line_item_number);
        }
        None => *message = Some(Message { part: "sale", request }),
    }
}

/// The tax of a commission: its tax lines, the determination for the audit trail and the
/// message that records it at the tax provider when the provider determined it.
pub struct CommissionTax {
    pub taxes: Vec<TaxLine>,
    pub determination: Determination,
    pub provider_message: Option<Message>,
}

/// Determines the tax of the commission the platform charges `partner`: a business service
/// taxed by the partner's domicile (domestic VAT, EU reverse charge, or out of scope). A
/// partner whose VAT id fails its check digits is not reverse charged: it is taxed as a
/// consumer.
///
/// NOTE: for a partner in the United States the commission goes to the tax provider like a
/// sale. The provider then charges US sales tax to the platform even when the platform is
/// established abroad without nexus in the partner's state, because the request carries no
/// nexus. It also makes every sale of a US partner need the provider.
pub async fn commission_tax(
    engine: &Engine,
    platform: &Party,
    partner: &Party,
    commission: Decimal,
    currency: Currency,
    tax_point: DateTime<Utc>,
) -> Result<CommissionTax, Error> {
    let input = tax::TaxInput {
        seller: tax_party(platform),
        buyer: tax_party(partner),
        platform: None,
        platform_role: PlatformRole::None,
        product: ProductTaxCode::ElectronicService,
        currency,
        lines: vec![tax::InputLine { amount: commission, quantity: Decimal::ONE }],
        prices_include_tax: false,
        tax_point,
    };
    let party = |field, role, party: &Party| RequestParty { field, role, id: party.id };
    let fields = RequestFields {
        buyer: party(Some("seller_id"), "partner", partner),
        seller: party(None, "platform", platform),
        platform: party(None, "platform", platform),
        lines: &[],
        tax_code: None,
        tax_point: ("issued_at", tax_point),
    };
    let (determination, request) =
        engine.determine_for_document(&input).await.map_err(|err| fields.rename(err))?;
    let mut taxes = tax_lines(&determination, &[0], Liable::Platform);
    for line in &mut taxes {
        line.lines.clear();
    }
    let provider_message = request.map(|request| Message { part: "commission", request });
    Ok(CommissionTax { taxes, determination, provider_message })
}

/// Converts the engine's tax lines, naming the invoice lines that carry a share of each.
fn tax_lines(
    determination: &Determination,
    line_numbers: &[i32],
    seller_is: Liable,
) -> Vec<TaxLine> {
    determination
        .taxes
        .iter()
        .enumerate()
        .map(|(j, tax)| TaxLine {
            jurisdiction: tax.jurisdiction.clone(),
            rate: tax.rate,
            rule: tax.rule.clone(),
            liable: match tax.liable {
                Liability::Seller => seller_is,
                Liability::Platform => Liable::Platform,
                Liability::Buyer => Liable::Customer,
                Liability::Nobody => Liable::Nobody,
            },
            base: tax.taxable,
            amount: tax.amount,
            lines: determination
                .lines
                .iter()
                .zip(line_numbers)
                .filter(|(line, _)| line.taxes.get(j).is_some_and(|share| !share.taxable.is_zero()))
                .map(|(_, number)| *number)
                .collect(),
            legal_mention: tax.legal_mention.clone(),
        })
        .collect()
}

/// Checks a VAT identification number with the tax engine's format and check-digit rules. An
/// id that has the country's format but fails its check digits is `Failed`, not an error: the
/// party is kept and taxed as not VAT-registered. A malformed id is rejected. Also returns the
/// id as it is stored: with its VAT prefix, in upper case, without separators.
pub fn check_vat_id(country: &str, vat_id: &str) -> Result<(VatIdCheck, String), Error> {
    match tax::vat_id::validate(country, vat_id) {
        Ok(valid) => Ok((VatIdCheck::Valid, valid.number)),
        Err(TaxIdError::CheckDigits { number, .. }) => Ok((VatIdCheck::Failed, number)),
        Err(err @ TaxIdError::Malformed { .. }) => {
            Err(Error::new(ErrorCode::InvalidVatId, err.to_string()).field("vat_id").value(vat_id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_id_check_digits_fail_without_error() {
        let valid = ("DE136695976".to_string(), VatIdCheck::Valid);
        let failed = ("DE136695977".to_string(), VatIdCheck::Failed);
        assert_eq!(check_vat_id("DE", "DE136695976").map(|(c, n)| (n, c)).unwrap(), valid);
        assert_eq!(check_vat_id("DE", "de 136.695.977").map(|(c, n)| (n, c)).unwrap(), failed);
    }

    #[test]
    fn malformed_vat_id_is_rejected() {
        for malformed in ["DE13669597", "FR136695976", "DE13669597X"] {
            let err = check_vat_id("DE", malformed).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidVatId, "{malformed}");
            assert_eq!(err.field.as_deref(), Some("vat_id"), "{malformed}");
            assert_eq!(err.value, Some(serde_json::json!(malformed)), "{malformed}");
        }
    }

    #[test]
    fn tax_codes_are_parsed() {
        assert_eq!(parse_tax_code("saas", "x").unwrap(), ProductTaxCode::Saas);
        assert_eq!(
            parse_tax_code("apps", "lines[0].tax_code").unwrap_err().field.as_deref(),
            Some("lines[0].tax_code")
        );
    }
}
