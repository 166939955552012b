//! Jurisdictions and effective-dated rates, held in memory for determination.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::model::RoundingScope;
use crate::error::{Error, ErrorCode};
use crate::money::Rounding;

/// Level of a jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Country,
    State,
    County,
    City,
    SpecialDistrict,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Country => "country",
            Level::State => "state",
            Level::County => "county",
            Level::City => "city",
            Level::SpecialDistrict => "special_district",
        }
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Level, String> {
        match text {
            "country" => Ok(Level::Country),
            "state" => Ok(Level::State),
            "county" => Ok(Level::County),
            "city" => Ok(Level::City),
            "special_district" => Ok(Level::SpecialDistrict),
            other => Err(format!("unknown jurisdiction level '{other}'")),
        }
    }
}

/// Class of a rate within a jurisdiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateClass {
    Standard,
    Reduced,
    SuperReduced,
    /// The state-level rate of a US state, used only as an estimate when the external
    /// provider fails.
    UsFallback,
}

impl RateClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RateClass::Standard => "standard",
            RateClass::Reduced => "reduced",
            RateClass::SuperReduced => "super_reduced",
            RateClass::UsFallback => "us_fallback",
        }
    }
}

impl FromStr for RateClass {
    type Err = String;

    fn from_str(text: &str) -> Result<RateClass, String> {
        match text {
            "standard" => Ok(RateClass::Standard),
            "reduced" => Ok(RateClass::Reduced),
            "super_reduced" => Ok(RateClass::SuperReduced),
            "us_fallback" => Ok(RateClass::UsFallback),
            other => Err(format!("unknown rate class '{other}'")),
        }
    }
}

/// A taxing jurisdiction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 for a country, ISO 3166-2 for a subdivision (`CA-QC`).
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub time_zone: Tz,
    pub tax_name: String,
    /// Whether this jurisdiction's tax replaces its parent's (Canadian HST replaces the GST).
    #[serde(default)]
    pub replaces_parent: bool,
    pub rounding_scope: RoundingScope,
    pub rounding_rule: Rounding,
    pub source: String,
}

/// A rate valid from one local date to another, both inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub jurisdiction: String,
    pub class: RateClass,
    /// Percent: 25.5 means 25.5 %.
    pub rate: Decimal,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub source: String,
    pub source_read_on: NaiveDate,
}

impl Rate {
    fn covers(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// Describes where the rate comes from, for the audit trail.
    pub fn provenance(&self) -> String {
        format!("{} (read {})", self.source, self.source_read_on)
    }
}

/// Every jurisdiction and rate, indexed for lookups during determination.
#[derive(Debug, Clone, Default)]
pub struct RateBook {
    jurisdictions: HashMap<String, Jurisdiction>,
    /// Rates per (jurisdiction, class), sorted by `valid_from`.
    rates: HashMap<(String, RateClass), Vec<Rate>>,
    /// Subdivision jurisdictions per country, so a country with none ignores subdivisions.
    countries_with_subdivisions: HashMap<String, usize>,
    /// Jurisdictions with at least one rate.
    rated: HashSet<String>,
}

impl RateBook {
    /// Builds a rate book, rejecting a rate of an unknown jurisdiction, a jurisdiction whose
    /// parent is unknown, and two rates of one class whose validity overlaps.
    pub fn new(jurisdictions: Vec<Jurisdiction>, rates: Vec<Rate>) -> anyhow::Result<RateBook> {
        let mut book = RateBook::default();
        for jurisdiction in jurisdictions {
            book.jurisdictions.insert(jurisdiction.code.clone(), jurisdiction);
        }
        for jurisdiction in book.jurisdictions.values() {
            if let Some(parent) = &jurisdiction.parent {
                anyhow::ensure!(
                    book.jurisdictions.contains_key(parent),
                    "jurisdiction {} names unknown parent {parent}",
                    jurisdiction.code
                );
                let country = &jurisdiction.code[..2];
                *book.countries_with_subdivisions.entry(country.to_string()).or_default() += 1;
            }
        }
        for rate in rates {
            anyhow::ensure!(
                book.jurisdictions.contains_key(&rate.jurisdiction),
                "rate of unknown jurisdiction {}",
                rate.jurisdiction
            );
            book.rated.insert(rate.jurisdiction.clone());
            book.rates.entry((rate.jurisdiction.clone(), rate.class)).or_default().push(rate);
        }
        for ((code, class), rows) in &mut book.rates {
            rows.sort_by_key(|rate| rate.valid_from);
            for pair in rows.windows(2) {
                let ends_before = pair[0].valid_to.is_some_and(|to| to < pair[1].valid_from);
                anyhow::ensure!(
                    ends_before,
                    "rates of {code} {} overlap at {}",
                    class.as_str(),
                    pair[1].valid_from
                );
            }
        }
        Ok(book)
    }

    pub fn jurisdiction(&self, code: &str) -> Option<&Jurisdiction> {
        self.jurisdictions.get(code)
    }

    pub fn jurisdictions(&self) -> impl Iterator<Item = &Jurisdiction> {
        self.jurisdictions.values()
    }

    pub fn rates(&self) -> impl Iterator<Item = &Rate> {
        self.rates.values().flatten()
    }

    /// Tells whether any rate of any class is loaded for `code`.
    pub fn has_rates(&self, code: &str) -> bool {
        self.rated.contains(code)
    }

    /// Tells whether the country has subdivisions with their own taxes (Canada, the United
    /// States).
    pub fn has_subdivisions(&self, country: &str) -> bool {
        self.countries_with_subdivisions.contains_key(country)
    }

    /// Finds the rate of `class` valid in `code` on the local `date`.
    pub fn rate_on(&self, code: &str, class: RateClass, date: NaiveDate) -> Result<&Rate, Error> {
        let rows = self.rates.get(&(code.to_string(), class));
        let found = rows.and_then(|rows| rows.iter().rev().find(|rate| rate.covers(date)));
        found.ok_or_else(|| {
            Error::new(
                ErrorCode::TaxRateNotFound,
                format!("no {} rate of {code} is valid on {date}", class.as_str()),
            )
            .field("tax_point")
            .value(date.to_string())
        })
    }
}
