//! VAT ids for the demo's businesses: random candidates in each country's format, kept or
//! thrown away by the tax engine's check-digit validation.
//!
//! Formats are those listed in `crate::tax::vat_id`, which names each national source: EU
//! VAT numbers, UK VAT registration numbers, Swiss UIDs and Norwegian organisation numbers.
//! Australian, Japanese and Canadian businesses get none, because the parties API takes only
//! ids that start with their country code.

use super::dice::Dice;
use crate::tax::vat_id::{CheckKind, TaxIdError};

/// Candidates drawn before giving up on a country. A random candidate passes a check-digit
/// rule about one time in ten to ninety-seven, so only countries whose ids the tax engine
/// checks for format alone (Latvia) reach it, and their businesses get no VAT id.
const MAX_TRIES: usize = 1_000;

/// Returns a random candidate in the country's VAT id format, with its prefix.
fn candidate(dice: &mut Dice, country: &str) -> Option<String> {
    let body = match country {
        "AT" => format!("U{}", dice.digits(8)),
        "BE" => format!("0{}", dice.digits(9)),
        "BG" => dice.digits(9),
        "CY" => format!("{}{}", dice.digits(8), letter(dice)),
        "CZ" => dice.digits(8),
        "DE" => format!("{}{}", dice.between(1, 9), dice.digits(8)),
        "DK" => format!("{}{}", dice.between(1, 9), dice.digits(7)),
        "EE" => format!("10{}", dice.digits(7)),
        "ES" => format!("{}{}{}", letter(dice), dice.digits(7), letter(dice)),
        "FI" => dice.digits(8),
        "FR" => dice.digits(11),
        "GB" => dice.digits(9),
        "GR" => dice.digits(9),
        "HR" => dice.digits(11),
        "HU" => dice.digits(8),
        "IE" => format!("{}{}", dice.digits(7), letter(dice)),
        "IT" => format!(
            "{}{}{}",
            dice.digits(7),
            *dice.pick(&["001", "015", "058", "096"]),
            dice.digits(1)
        ),
        "LT" => format!("{}1{}", dice.digits(7), dice.digits(1)),
        "LU" => dice.digits(8),
        "LV" => format!("4{}", dice.digits(10)),
        "MT" => format!("{}{}", dice.between(1, 9), dice.digits(7)),
        "NL" => format!("{}B01", dice.digits(9)),
        "PL" => format!("{}{}", dice.between(1, 9), dice.digits(9)),
        "PT" => format!("{}{}", dice.between(1, 5), dice.digits(8)),
        "RO" => format!("{}{}", dice.between(1, 9), dice.digits(7)),
        "SE" => format!("{}01", dice.digits(10)),
        "SI" => format!("{}{}", dice.between(1, 9), dice.digits(7)),
        "SK" => format!("{}{}", dice.between(1, 9), dice.digits(9)),
        "CH" => return Some(format!("CHE{}MWST", dice.digits(9))),
        "NO" => return Some(format!("NO{}{}MVA", dice.between(8, 9), dice.digits(8))),
        _ => return None,
    };
    let prefix = if country == "GR" { "EL" } else { country };
    Some(format!("{prefix}{body}"))
}

fn letter(dice: &mut Dice) -> char {
    char::from(b'A' + dice.below(26) as u8)
}

/// Returns a VAT id for `country` that passes its check digits, or `None` where the country
/// has no VAT id the tax engine checks.
pub fn valid(dice: &mut Dice, country: &str) -> Option<String> {
    for _ in 0..MAX_TRIES {
        let id = candidate(dice, country)?;
        if accepts(country, &id) == Some(true) {
            return Some(id);
        }
    }
    None
}

/// Returns a VAT id for `country` in the right format whose check digits fail.
pub fn invalid(dice: &mut Dice, country: &str) -> Option<String> {
    for _ in 0..MAX_TRIES {
        let id = candidate(dice, country)?;
        if accepts(country, &id) == Some(false) {
            return Some(id);
        }
    }
    None
}

/// Whether `id` passes the tax engine's check digits for `country`: `Some(false)` when only
/// its check digits fail, `None` when the engine checks the country's format alone or the
/// candidate is malformed, so neither answer is trusted.
fn accepts(country: &str, id: &str) -> Option<bool> {
    match crate::tax::vat_id::validate(country, id) {
        Ok(valid) if valid.check == CheckKind::CheckDigits => Some(true),
        Ok(_) => None,
        Err(TaxIdError::CheckDigits { .. }) => Some(false),
        Err(TaxIdError::Malformed { .. }) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTRIES: &[&str] = &[
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "CH", "NO",
    ];

    #[test]
    fn valid_ids_pass_check_digits() {
        let mut dice = Dice::new(1);
        for country in COUNTRIES {
            let id =
                valid(&mut dice, country).unwrap_or_else(|| panic!("no valid id for {country}"));
            let checked = crate::tax::vat_id::validate(country, &id).expect("valid id");
            assert_eq!(checked.check, CheckKind::CheckDigits, "{country} {id}");
        }
    }

    #[test]
    fn invalid_ids_fail_check_digits() {
        let mut dice = Dice::new(2);
        for country in COUNTRIES {
            let id = invalid(&mut dice, country)
                .unwrap_or_else(|| panic!("no invalid id for {country}"));
            let error = crate::tax::vat_id::validate(country, &id).expect_err("invalid id");
            assert!(matches!(error, TaxIdError::CheckDigits { .. }), "{country} {id}: {error}");
        }
    }
}
