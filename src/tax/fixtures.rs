//! The rates fixtures embedded in the binary: `fixtures/tax/jurisdictions.json` and
//! `fixtures/tax/rates.json`. Each row names a source key; the key's text is stored with it.

use std::collections::HashMap;

use anyhow::Context;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::model::RoundingScope;
use super::rates::{Jurisdiction, Level, Rate, RateBook, RateClass};
use crate::money::Rounding;

const JURISDICTIONS: &str = include_str!("../../fixtures/tax/jurisdictions.json");
const RATES: &str = include_str!("../../fixtures/tax/rates.json");

#[derive(Deserialize)]
struct JurisdictionFile {
    sources: HashMap<String, String>,
    jurisdictions: Vec<JurisdictionRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JurisdictionRow {
    code: String,
    name: String,
    level: Level,
    parent: Option<String>,
    time_zone: chrono_tz::Tz,
    tax_name: String,
    replaces_parent: bool,
    rounding_scope: RoundingScope,
    rounding_rule: Rounding,
    source: String,
}

#[derive(Deserialize)]
struct RateFile {
    sources: HashMap<String, String>,
    rates: Vec<RateRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateRow {
    jurisdiction: String,
    rate_class: RateClass,
    rate: Decimal,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    source: String,
    source_read_on: NaiveDate,
}

fn source_text(sources: &HashMap<String, String>, key: &str) -> anyhow::Result<String> {
    sources.get(key).cloned().with_context(|| format!("fixture names unknown source key {key}"))
}

/// Parses the embedded jurisdictions fixture.
pub fn jurisdictions() -> anyhow::Result<Vec<Jurisdiction>> {
    let file: JurisdictionFile =
        serde_json::from_str(JURISDICTIONS).context("fixtures/tax/jurisdictions.json")?;
    file.jurisdictions
        .into_iter()
        .map(|row| {
            Ok(Jurisdiction {
                source: source_text(&file.sources, &row.source)?,
                code: row.code,
                name: row.name,
                level: row.level,
                parent: row.parent,
                time_zone: row.time_zone,
                tax_name: row.tax_name,
                replaces_parent: row.replaces_parent,
                rounding_scope: row.rounding_scope,
                rounding_rule: row.rounding_rule,
            })
        })
        .collect()
}

/// Parses the embedded rates fixture.
pub fn rates() -> anyhow::Result<Vec<Rate>> {
    let file: RateFile = serde_json::from_str(RATES).context("fixtures/tax/rates.json")?;
    file.rates
        .into_iter()
        .map(|row| {
            Ok(Rate {
                source: source_text(&file.sources, &row.source)?,
                jurisdiction: row.jurisdiction,
                class: row.rate_class,
                rate: row.rate,
                valid_from: row.valid_from,
                valid_to: row.valid_to,
                source_read_on: row.source_read_on,
            })
        })
        .collect()
}

/// Builds a rate book straight from the fixtures, without a database: for tests and benches.
pub fn rate_book() -> anyhow::Result<RateBook> {
    RateBook::new(jurisdictions()?, rates()?)
}
