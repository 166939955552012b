//! Tax of billing documents: which rate applies to each invoice line and to the commission,
//! and the document-level amounts per jurisdiction and rate.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::parties::{Party, SellingRole};
use crate::error::{Error, ErrorCode};
use crate::money::{Currency, Rounding};

/// Who owes a tax amount to the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liable {
    /// The partner sells as supplier; the platform collects the tax for it.
    Partner,
    /// The platform is the supplier or deemed supplier.
    Platform,
    /// Reverse charge: the business customer accounts for the tax.
    Customer,
}

impl Liable {
    pub fn as_str(self) -> &'static str {
        match self {
            Liable::Partner => "partner",
            Liable::Platform => "platform",
            Liable::Customer => "customer",
        }
    }
}

/// The rate that applies to one supply, with the rule that chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateChoice {
    pub jurisdiction: String,
    pub rate: Decimal,
    pub rule: String,
    pub legal_mention: Option<String>,
}

/// Tax of a document for one jurisdiction and rate, computed on the total of its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxLine {
    pub jurisdiction: String,
    pub rate: Decimal,
    pub rule: String,
    pub liable: Liable,
    pub base: Decimal,
    pub amount: Decimal,
    pub lines: Vec<i32>,
    pub legal_mention: Option<String>,
}

/// Standard VAT rates of the EU member states, from the European Commission's table "VAT rates
/// applied in the Member States of the European Union" (situation at 1 January 2025), with
/// the later changes in Estonia (24% from 1 July 2025) and Romania (21% from 1 August 2025).
const EU_STANDARD_RATES: &[(&str, &str)] = &[
    ("AT", "0.20"),
    ("BE", "0.21"),
    ("BG", "0.20"),
    ("CY", "0.19"),
    ("CZ", "0.21"),
    ("DE", "0.19"),
    ("DK", "0.25"),
    ("EE", "0.24"),
    ("ES", "0.21"),
    ("FI", "0.255"),
    ("FR", "0.20"),
    ("GR", "0.24"),
    ("HR", "0.25"),
    ("HU", "0.27"),
    ("IE", "0.23"),
    ("IT", "0.22"),
    ("LT", "0.21"),
    ("LU", "0.17"),
    ("LV", "0.21"),
    ("MT", "0.18"),
    ("NL", "0.21"),
    ("PL", "0.23"),
    ("PT", "0.23"),
    ("RO", "0.21"),
    ("SE", "0.25"),
    ("SI", "0.22"),
    ("SK", "0.23"),
];

/// Legal mention of an EU reverse charge: Council Directive 2006/112/EC, Article 196 (the
/// recipient of services taxed where it is established owes the VAT).
pub const REVERSE_CHARGE_MENTION: &str =
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Directive 2006/112/EC)";

fn eu_rate(country: &str) -> Option<Decimal> {
    EU_STANDARD_RATES
        .iter()
        .find(|(code, _)| *code == country)
        .and_then(|(_, rate)| rate.parse().ok())
}

/// Chooses the VAT rate of an electronically supplied service from `seller` to `buyer`.
///
/// NOTE: this covers EU VAT on electronic services at standard rates only; other places of
/// supply (US sales tax, Canada, Australia) are out of scope here and get rate 0.
pub fn choose_rate(seller: &Party, buyer: &Party) -> RateChoice {
    let seller_country = seller.domicile.country.as_str();
    let buyer_country = buyer.domicile.country.as_str();
    let choice =
        |jurisdiction: &str, rate: Decimal, rule: &str, mention: Option<&str>| RateChoice {
            jurisdiction: jurisdiction.to_string(),
            rate,
            rule: rule.to_string(),
            legal_mention: mention.map(str::to_string),
        };
    let Some(buyer_rate) = eu_rate(buyer_country) else {
        return choice(buyer_country, Decimal::ZERO, "outside_eu_out_of_scope", None);
    };
    let reverse_charge = buyer.business && buyer.vat_id.is_some();
    if buyer_country == seller_country {
        return choice(buyer_country, buyer_rate, "domestic", None);
    }
    if reverse_charge && eu_rate(seller_country).is_some() {
        let mention = Some(REVERSE_CHARGE_MENTION);
        return choice(buyer_country, Decimal::ZERO, "eu_b2b_reverse_charge", mention);
    }
    choice(buyer_country, buyer_rate, "eu_b2c_customer_country", None)
}

/// Who owes the sale's tax for `role`, given the rule chosen.
pub fn sale_liable(role: SellingRole, choice: &RateChoice) -> Liable {
    if choice.legal_mention.is_some() {
        return Liable::Customer;
    }
    match role {
        SellingRole::Agent => Liable::Partner,
        SellingRole::Supplier => Liable::Platform,
    }
}

/// One line's amount to be taxed.
#[derive(Debug, Clone)]
pub struct TaxableLine {
    pub line_no: i32,
    /// Net amount, or gross when prices include tax.
    pub amount: Decimal,
    pub choice: RateChoice,
}

/// Groups lines by jurisdiction and rate and computes each group's tax on its total, half-up.
/// When prices include tax the amounts are gross and the tax is extracted from them.
pub fn tax_lines(
    lines: &[TaxableLine],
    liable: impl Fn(&RateChoice) -> Liable,
    prices_include_tax: bool,
    currency: Currency,
) -> Vec<TaxLine> {
    let mut groups: BTreeMap<(String, Decimal), TaxLine> = BTreeMap::new();
    for line in lines {
        let key = (line.choice.jurisdiction.clone(), line.choice.rate);
        let group = groups.entry(key).or_insert_with(|| TaxLine {
            jurisdiction: line.choice.jurisdiction.clone(),
            rate: line.choice.rate,
            rule: line.choice.rule.clone(),
            liable: liable(&line.choice),
            base: Decimal::ZERO,
            amount: Decimal::ZERO,
            lines: Vec::new(),
            legal_mention: line.choice.legal_mention.clone(),
        });
        group.base += line.amount;
        group.lines.push(line.line_no);
    }
    groups
        .into_values()
        .map(|mut group| {
            if prices_include_tax {
                let gross = group.base;
                let exact = gross * group.rate / (Decimal::ONE + group.rate);
                group.amount = currency.round(exact, Rounding::HalfUp);
                group.base = gross - group.amount;
            } else {
                group.amount = currency.round(group.base * group.rate, Rounding::HalfUp);
            }
            group
        })
        .collect()
}

/// Checks a VAT identification number: its country prefix and format.
///
/// NOTE: check digits are not verified here.
pub fn validate_vat_id(country: &str, vat_id: &str) -> Result<(), Error> {
    let prefix_ok = vat_id.len() > 4
        && (vat_id.starts_with(country) || (country == "GR" && vat_id.starts_with("EL")));
    let characters_ok = vat_id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if prefix_ok && characters_ok {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::InvalidVatId,
        format!("VAT id {vat_id} is not a valid number for {country}"),
    )
    .field("vat_id")
    .value(vat_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::parties::{Domicile, PartyRole};
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    fn party(country: &str, business: bool, vat_id: Option<&str>) -> Party {
        Party {
            id: Uuid::nil(),
            role: PartyRole::Customer,
            name: "x".into(),
            domicile: Domicile {
                country: country.into(),
                subdivision: None,
                postal_code: None,
                city: None,
                time_zone: "UTC".into(),
            },
            business,
            vat_id: vat_id.map(str::to_string),
            exemptions: vec![],
            agreement: None,
        }
    }

    #[test]
    fn consumer_in_other_member_state_pays_its_rate() {
        let choice = choose_rate(&party("DE", true, Some("DE1")), &party("IT", false, None));
        assert_eq!(choice.rate, dec!(0.22));
        assert_eq!(choice.jurisdiction, "IT");
    }

    #[test]
    fn business_in_other_member_state_is_reverse_charged() {
        let choice = choose_rate(&party("FR", true, None), &party("DE", true, Some("DE1")));
        assert_eq!(choice.rate, dec!(0));
        assert!(choice.legal_mention.is_some());
    }

    #[test]
    fn document_total_is_rounded_once() {
        let eur = Currency::parse("EUR").unwrap();
        let fr = choose_rate(&party("FR", true, None), &party("FR", false, None));
        let lines: Vec<TaxableLine> = [dec!(68.33), dec!(68.33), dec!(57.50), dec!(85.00)]
            .iter()
            .enumerate()
            .map(|(i, amount)| TaxableLine {
                line_no: i as i32 + 1,
                amount: *amount,
                choice: fr.clone(),
            })
            .collect();
        let taxes = tax_lines(&lines, |_| Liable::Partner, false, eur);
        assert_eq!(taxes.len(), 1);
        assert_eq!(taxes[0].amount, dec!(55.83));
        assert_eq!(taxes[0].base, dec!(279.16));
    }

    #[test]
    fn tax_is_extracted_from_gross() {
        let eur = Currency::parse("EUR").unwrap();
        let it = choose_rate(&party("DE", true, None), &party("IT", false, None));
        let lines = vec![TaxableLine { line_no: 1, amount: dec!(12.20), choice: it }];
        let taxes = tax_lines(&lines, |_| Liable::Partner, true, eur);
        assert_eq!(taxes[0].amount, dec!(2.20));
        assert_eq!(taxes[0].base, dec!(10.00));
    }

    #[test]
    fn vat_id_needs_country_prefix() {
        assert!(validate_vat_id("DE", "DE136695976").is_ok());
        assert!(validate_vat_id("DE", "FR136695976").is_err());
        assert!(validate_vat_id("DE", "de136695976").is_err());
    }
}
