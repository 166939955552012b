//! Names of the provider's US jurisdictions, chosen so that one jurisdiction always posts to
//! one `tax_payable:<code>` account whether its tax came from the provider or from the local
//! fallback rates.
//!
//! A state is named by its ISO 3166-2 code (`US-WA`), as the rate book and the fallback name
//! it. A county, city or special district is named under its state by the provider's type and
//! id, which the provider keeps stable: `US-WA:CITY:53-1726`, `US-CA:COUNTY:06037`,
//! `US-WA:DISTRICT:53-RTA`.

use super::wire::Tax;

/// State FIPS codes and USPS postal abbreviations of the 50 states, the District of Columbia
/// and the territories that levy their own taxes. Source: U.S. Census Bureau, "American
/// National Standards Institute (ANSI) and Federal Information Processing Series (FIPS) Codes",
/// state-level table (FIPS 5-2 codes, which the ISO 3166-2:US subdivision codes use as
/// postal abbreviations).
const STATE_FIPS: [(&str, &str); 56] = [
    ("01", "AL"),
    ("02", "AK"),
    ("04", "AZ"),
    ("05", "AR"),
    ("06", "CA"),
    ("08", "CO"),
    ("09", "CT"),
    ("10", "DE"),
    ("11", "DC"),
    ("12", "FL"),
    ("13", "GA"),
    ("15", "HI"),
    ("16", "ID"),
    ("17", "IL"),
    ("18", "IN"),
    ("19", "IA"),
    ("20", "KS"),
    ("21", "KY"),
    ("22", "LA"),
    ("23", "ME"),
    ("24", "MD"),
    ("25", "MA"),
    ("26", "MI"),
    ("27", "MN"),
    ("28", "MS"),
    ("29", "MO"),
    ("30", "MT"),
    ("31", "NE"),
    ("32", "NV"),
    ("33", "NH"),
    ("34", "NJ"),
    ("35", "NM"),
    ("36", "NY"),
    ("37", "NC"),
    ("38", "ND"),
    ("39", "OH"),
    ("40", "OK"),
    ("41", "OR"),
    ("42", "PA"),
    ("44", "RI"),
    ("45", "SC"),
    ("46", "SD"),
    ("47", "TN"),
    ("48", "TX"),
    ("49", "UT"),
    ("50", "VT"),
    ("51", "VA"),
    ("53", "WA"),
    ("54", "WV"),
    ("55", "WI"),
    ("56", "WY"),
    ("60", "AS"),
    ("66", "GU"),
    ("69", "MP"),
    ("72", "PR"),
    ("78", "VI"),
];

/// Returns the ISO 3166-2 code (`US-WA`) of the state with FIPS code `fips`.
pub fn state_code(fips: &str) -> Option<String> {
    STATE_FIPS.iter().find(|(code, _)| *code == fips).map(|(_, postal)| format!("US-{postal}"))
}

/// Returns the code of `tax`'s jurisdiction. `state` is the ISO code of the state that the
/// taxes of the same line belong to. A state jurisdiction is named by its own FIPS id instead,
/// and `None` is returned when that id is missing from the FIPS table.
pub fn code(tax: &Tax, state: &str) -> Option<String> {
    let jurisdiction = &tax.jurisdiction;
    if jurisdiction.jurisdiction_type == "STATE" {
        return state_code(&jurisdiction.jurisdiction_id);
    }
    Some(format!("{state}:{}:{}", jurisdiction.jurisdiction_type, jurisdiction.jurisdiction_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tax::provider::wire::Jurisdiction;
    use rust_decimal::Decimal;

    fn tax(kind: &str, id: &str) -> Tax {
        Tax {
            jurisdiction: Jurisdiction {
                jurisdiction_type: kind.to_string(),
                jurisdiction_id: id.to_string(),
                value: String::new(),
            },
            tax_result: "TAXABLE".to_string(),
            situs: "DESTINATION".to_string(),
            effective_rate: Decimal::ZERO,
            taxable: Decimal::ZERO,
            calculated_tax: Decimal::ZERO,
        }
    }

    #[test]
    fn state_is_named_by_iso_code() {
        assert_eq!(code(&tax("STATE", "53"), "US-XX").as_deref(), Some("US-WA"));
        assert_eq!(code(&tax("STATE", "06"), "US-XX").as_deref(), Some("US-CA"));
        assert_eq!(state_code("72").as_deref(), Some("US-PR"));
    }

    #[test]
    fn unknown_state_fips_has_no_code() {
        assert_eq!(code(&tax("STATE", "03"), "US-WA"), None);
        assert_eq!(state_code("99"), None);
    }

    #[test]
    fn local_levels_are_named_under_state() {
        assert_eq!(code(&tax("CITY", "53-1726"), "US-WA").as_deref(), Some("US-WA:CITY:53-1726"));
        assert_eq!(code(&tax("COUNTY", "06037"), "US-CA").as_deref(), Some("US-CA:COUNTY:06037"));
        assert_eq!(
            code(&tax("DISTRICT", "53-RTA"), "US-WA").as_deref(),
            Some("US-WA:DISTRICT:53-RTA")
        );
    }

    #[test]
    fn fips_table_has_unique_entries() {
        for (index, (fips, postal)) in STATE_FIPS.iter().enumerate() {
            assert_eq!(fips.len(), 2, "{fips}");
            assert_eq!(postal.len(), 2, "{postal}");
            let later = &STATE_FIPS[index + 1..];
            assert!(later.iter().all(|(other, _)| other != fips), "{fips}");
            assert!(later.iter().all(|(_, other)| other != postal), "{postal}");
        }
    }
}
