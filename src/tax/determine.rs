//! The pure determination: rules, rates and rounding, with no I/O.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::model::{
    Determination, DeterminationSource, Liability, LineShare, LineTax, TaxInput, TaxLine,
};
use super::rates::{Jurisdiction, RateBook, RateClass};
use super::rounding::{self, Component, Computed};
use super::rules::{self, Parties, Placement, Treatment};
use crate::error::{Error, ErrorCode};
use crate::ledger::posting::AMOUNT_LIMIT;
use crate::money::Rounding;

/// Most lines one document may carry.
pub const MAX_LINES: usize = 1000;

/// Determines the tax of `input` from local rules and `rates`. A buyer in the United States
/// yields `tax_provider_required`: such sales go to the external provider (see `Engine`).
pub fn determine(rates: &RateBook, input: &TaxInput) -> Result<Determination, Error> {
    check_lines(input)?;
    let parties = rules::parties(rates, input)?;
    let buyer_date = buyer_local_date(rates, &parties, input.tax_point);
    let placement = rules::place(&parties, input.product, buyer_date)?;
    let party = place_party(&parties, &placement.place);
    let place = jurisdiction(rates, &placement.place, party)?;
    let tax_date = local_date(place, input.tax_point);
    let taxing = taxing_chain(rates, place, placement.treatment);
    let mut priced = Vec::with_capacity(taxing.len());
    for jurisdiction in taxing {
        let (rate, source) = match placement.treatment {
            Treatment::Charge => {
                let rate = rate_of(rates, jurisdiction, RateClass::Standard, tax_date, party)?;
                (rate.rate, rate.provenance())
            }
            Treatment::Zero => (Decimal::ZERO, "no tax charged under the rule".to_string()),
        };
        priced.push(Priced { jurisdiction, rate, source });
    }
    Ok(assemble(input, &parties, &placement, tax_date, &priced, DeterminationSource::Local))
}

/// Estimates the tax of a sale to the United States from the state-level fallback rate of the
/// buyer's state, for use when the external provider fails. The result is flagged
/// `tax_estimated`.
///
/// NOTE: the estimate ignores county, city and district taxes and product taxability (it
/// charges the state rate on SaaS in California, where SaaS is not taxed); a document posted
/// with it needs a correction once the provider is back.
pub fn determine_fallback(rates: &RateBook, input: &TaxInput) -> Result<Determination, Error> {
    check_lines(input)?;
    let parties = rules::parties(rates, input)?;
    let Some(state) =
        parties.buyer_subdivision.as_deref().filter(|_| parties.buyer_country == "US")
    else {
        return Err(Error::new(
            ErrorCode::InvalidField,
            "fallback rates exist only for buyers in a US state",
        )
        .field("buyer.domicile.country")
        .value(parties.buyer_country.as_str()));
    };
    let place = jurisdiction(rates, state, "buyer")?;
    let tax_date = local_date(place, input.tax_point);
    let rate = rate_of(rates, place, RateClass::UsFallback, tax_date, "buyer")?;
    let placement = Placement {
        rule: "us.fallback.state_rate".to_string(),
        place: state.to_string(),
        treatment: Treatment::Charge,
        liable: parties.supplier_liability,
        mention: None,
    };
    let priced = [Priced { jurisdiction: place, rate: rate.rate, source: rate.provenance() }];
    let mut determination =
        assemble(input, &parties, &placement, tax_date, &priced, DeterminationSource::Fallback);
    determination.tax_estimated = true;
    Ok(determination)
}

struct Priced<'a> {
    jurisdiction: &'a Jurisdiction,
    rate: Decimal,
    source: String,
}

pub(crate) fn check_lines(input: &TaxInput) -> Result<(), Error> {
    if input.lines.is_empty() || input.lines.len() > MAX_LINES {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("a document needs 1 to {MAX_LINES} lines, got {}", input.lines.len()),
        )
        .field("lines"));
    }
    for (i, line) in input.lines.iter().enumerate() {
        input
            .currency
            .exact(line.amount)
            .map_err(|err| Error::from(err).field(format!("lines[{i}].amount")))?;
        // The ledger's limit keeps amount × rate and the sums of lines far from overflow.
        if line.amount.abs() >= AMOUNT_LIMIT {
            return Err(Error::new(
                ErrorCode::AmountOutOfRange,
                format!("amount must be smaller than {AMOUNT_LIMIT} in absolute value"),
            )
            .field(format!("lines[{i}].amount"))
            .value(line.amount.to_string()));
        }
        if line.quantity <= Decimal::ZERO {
            return Err(Error::new(ErrorCode::InvalidField, "quantity must be positive")
                .field(format!("lines[{i}].quantity"))
                .value(line.quantity.to_string()));
        }
    }
    Ok(())
}

/// Names the party whose domicile is the place of supply: the buyer's for destination rules,
/// else the supplier's (the platform when it is the deemed supplier).
fn place_party(parties: &Parties, place: &str) -> &'static str {
    let buyer_place = parties.buyer_subdivision.as_deref().unwrap_or(&parties.buyer_country);
    if place == buyer_place || place == parties.buyer_country {
        "buyer"
    } else if parties.supplier_liability == Liability::Platform {
        "platform"
    } else {
        "seller"
    }
}

/// Returns the input field of `party`'s domicile that selects the jurisdiction `code`: its
/// subdivision for a code such as `CA-QC`, else its country.
fn domicile_field(party: &str, code: &str) -> String {
    if code.contains('-') {
        format!("{party}.domicile.subdivision")
    } else {
        format!("{party}.domicile.country")
    }
}

fn jurisdiction<'a>(
    rates: &'a RateBook,
    code: &str,
    party: &str,
) -> Result<&'a Jurisdiction, Error> {
    rates.jurisdiction(code).ok_or_else(|| {
        Error::new(ErrorCode::UnknownJurisdiction, format!("no rates are loaded for {code}"))
            .field(domicile_field(party, code))
            .value(code)
    })
}

fn rate_of<'a>(
    rates: &'a RateBook,
    jurisdiction: &Jurisdiction,
    class: RateClass,
    date: NaiveDate,
    party: &str,
) -> Result<&'a super::rates::Rate, Error> {
    if !rates.has_rates(&jurisdiction.code) {
        return Err(Error::new(
            ErrorCode::TaxRuleMissing,
            format!(
                "{} ({}) of {} is not determined by this engine",
                jurisdiction.tax_name, jurisdiction.code, jurisdiction.name
            ),
        )
        .field(domicile_field(party, &jurisdiction.code))
        .value(jurisdiction.code.as_str()));
    }
    rates.rate_on(&jurisdiction.code, class, date)
}

/// Returns the tax point's date in `jurisdiction`'s time zone.
pub fn local_date(jurisdiction: &Jurisdiction, instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&jurisdiction.time_zone).date_naive()
}

fn buyer_local_date(rates: &RateBook, parties: &Parties, instant: DateTime<Utc>) -> NaiveDate {
    let code = parties.buyer_subdivision.as_deref().unwrap_or(&parties.buyer_country);
    match rates.jurisdiction(code) {
        Some(jurisdiction) => local_date(jurisdiction, instant),
        None => instant.date_naive(),
    }
}

/// Lists the jurisdictions that tax at `place`: its ancestors from the country down, minus
/// any whose tax a descendant replaces. A zero-rated supply is reported at `place` only.
fn taxing_chain<'a>(
    rates: &'a RateBook,
    place: &'a Jurisdiction,
    treatment: Treatment,
) -> Vec<&'a Jurisdiction> {
    if treatment == Treatment::Zero {
        return vec![place];
    }
    let mut chain = vec![place];
    let mut current = place;
    while let Some(parent) = current.parent.as_deref().and_then(|code| rates.jurisdiction(code)) {
        if !current.replaces_parent {
            chain.push(parent);
        }
        current = parent;
    }
    chain.reverse();
    chain
}

fn assemble(
    input: &TaxInput,
    parties: &Parties,
    placement: &Placement,
    tax_date: NaiveDate,
    priced: &[Priced<'_>],
    source: DeterminationSource,
) -> Determination {
    let components: Vec<Component> = priced
        .iter()
        .map(|p| Component {
            rate: p.rate,
            scope: p.jurisdiction.rounding_scope,
            rule: p.jurisdiction.rounding_rule,
        })
        .collect();
    let line_amounts: Vec<Decimal> = input.lines.iter().map(|line| line.amount).collect();
    let computed = rounding::compute(
        &line_amounts,
        input.prices_include_tax,
        &components,
        input.currency.minor_units(),
    );
    let taxes: Vec<TaxLine> = priced
        .iter()
        .zip(&computed.totals)
        .map(|(p, (taxable, amount))| TaxLine {
            jurisdiction: p.jurisdiction.code.clone(),
            jurisdiction_name: p.jurisdiction.name.clone(),
            level: p.jurisdiction.level.as_str().to_string(),
            tax_name: p.jurisdiction.tax_name.clone(),
            rule: placement.rule.clone(),
            rate: p.rate.normalize(),
            taxable: *taxable,
            amount: *amount,
            liable: placement.liable,
            legal_mention: placement.mention.clone(),
            rate_source: p.source.clone(),
            rounding: p.jurisdiction.rounding_scope,
        })
        .collect();
    let amounts = amounts(input, computed, &taxes);
    Determination {
        rule: placement.rule.clone(),
        supplier: match parties.supplier_liability {
            Liability::Platform => "platform".to_string(),
            _ => "seller".to_string(),
        },
        supplier_rule: parties.supplier_rule.clone(),
        buyer_treated_as: parties.buyer_kind,
        buyer_tax_id: parties.buyer_tax_id.clone(),
        buyer_tax_id_unused: parties.buyer_tax_id_unused.clone(),
        source,
        tax_estimated: false,
        currency: input.currency,
        prices_include_tax: input.prices_include_tax,
        tax_point: input.tax_point,
        tax_date,
        taxes,
        lines: amounts.lines,
        net_total: amounts.net_total,
        tax_total: amounts.tax_total,
        gross_total: amounts.net_total + amounts.tax_total,
        legal_mentions: placement.mention.iter().cloned().collect(),
        provider_response: None,
    }
}

struct Amounts {
    lines: Vec<LineTax>,
    net_total: Decimal,
    tax_total: Decimal,
}

/// Converts computed lines into the determination's lines and totals.
fn amounts(input: &TaxInput, computed: Computed, taxes: &[TaxLine]) -> Amounts {
    let lines: Vec<LineTax> = computed
        .lines
        .into_iter()
        .map(|line| LineTax {
            net: line.net,
            tax: line.tax,
            gross: line.gross,
            taxes: line
                .shares
                .into_iter()
                .map(|(taxable, amount)| LineShare { taxable, amount })
                .collect(),
        })
        .collect();
    let exact = |amount: Decimal| input.currency.round(amount, Rounding::HalfUp);
    Amounts {
        net_total: exact(lines.iter().map(|line| line.net).sum()),
        tax_total: exact(taxes.iter().map(|tax| tax.amount).sum()),
        lines,
    }
}
