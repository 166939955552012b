//! Commission of the platform on a partner's sale: a percentage of the net amount, tiered by
//! the partner's net revenue in the calendar year, plus an optional fixed fee per item.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::money::{Currency, Rounding};

/// One commission tier: `rate` applies to the part of the year's revenue up to `up_to`
/// (exclusive of lower tiers); the last tier has no bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tier {
    /// Upper bound of the tier's revenue band; `null` for the last tier.
    #[serde(default, with = "crate::money::option_amount_str")]
    #[schema(value_type = Option<String>, example = "1000000.00")]
    pub up_to: Option<Decimal>,
    /// Commission rate as a decimal fraction: "0.15" is 15%.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "0.15")]
    pub rate: Decimal,
}

/// Checks that tiers ascend, rates lie in [0, 1] and only the last tier is unbounded.
pub fn validate_tiers(tiers: &[Tier]) -> Result<(), Error> {
    let invalid = |index: usize, detail: &str| {
        Error::new(ErrorCode::InvalidField, detail.to_string())
            .field(format!("agreement.commission_tiers[{index}]"))
    };
    if tiers.is_empty() {
        return Err(Error::new(ErrorCode::InvalidField, "at least one commission tier is needed")
            .field("agreement.commission_tiers"));
    }
    let mut previous = Decimal::ZERO;
    for (index, tier) in tiers.iter().enumerate() {
        if tier.rate < Decimal::ZERO || tier.rate > Decimal::ONE {
            return Err(
                invalid(index, "rate must lie between 0 and 1").value(tier.rate.to_string())
            );
        }
        let last = index + 1 == tiers.len();
        match tier.up_to {
            None if !last => return Err(invalid(index, "only the last tier may be unbounded")),
            Some(bound) if last => {
                return Err(
                    invalid(index, "the last tier must be unbounded").value(bound.to_string())
                )
            }
            Some(bound) if bound <= previous => {
                return Err(invalid(index, "tier bounds must ascend").value(bound.to_string()))
            }
            Some(bound) => previous = bound,
            None => {}
        }
    }
    Ok(())
}

/// Computes the percentage commission on `net`, a sale that raises the partner's year revenue
/// from `revenue_before` to `revenue_before + net`. Each part of the sale is charged the rate
/// of the tier its revenue band falls in, so crossing a bound mid-sale splits the sale.
pub fn percentage_commission(tiers: &[Tier], revenue_before: Decimal, net: Decimal) -> Decimal {
    let mut commission = Decimal::ZERO;
    let mut start = revenue_before;
    let end = revenue_before + net;
    let mut lower = Decimal::ZERO;
    for tier in tiers {
        let upper = tier.up_to.unwrap_or(Decimal::MAX);
        let from = start.max(lower);
        let to = end.min(upper);
        if to > from {
            commission += (to - from) * tier.rate;
            start = to;
        }
        lower = upper;
        if start >= end {
            break;
        }
    }
    commission
}

/// Computes the commission of one line, rounded half-up to the currency: the tiered
/// percentage of its net amount plus `fixed_fee` per item. `None` when the fixed fees overflow.
pub fn line_commission(
    tiers: &[Tier],
    fixed_fee: Decimal,
    revenue_before: Decimal,
    net: Decimal,
    quantity: Decimal,
    currency: Currency,
) -> Option<Decimal> {
    let percentage = percentage_commission(tiers, revenue_before, net);
    let fees = fixed_fee.checked_mul(quantity)?;
    Some(currency.round(percentage.checked_add(fees)?, Rounding::HalfUp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn two_tiers() -> Vec<Tier> {
        vec![
            Tier { up_to: Some(dec!(1000000)), rate: dec!(0.15) },
            Tier { up_to: None, rate: dec!(0.30) },
        ]
    }

    #[test]
    fn flat_rate_on_net() {
        let eur = Currency::parse("EUR").unwrap();
        let commission =
            line_commission(&two_tiers(), dec!(0), dec!(0), dec!(10.00), dec!(1), eur).unwrap();
        assert_eq!(commission, dec!(1.50));
    }

    #[test]
    fn sale_crossing_tier_is_split() {
        let commission = percentage_commission(&two_tiers(), dec!(999900), dec!(200));
        assert_eq!(commission, dec!(100) * dec!(0.15) + dec!(100) * dec!(0.30));
    }

    #[test]
    fn sale_above_bound_uses_upper_rate() {
        let commission = percentage_commission(&two_tiers(), dec!(2000000), dec!(10));
        assert_eq!(commission, dec!(3.00));
    }

    #[test]
    fn fixed_fee_per_item_is_added() {
        let eur = Currency::parse("EUR").unwrap();
        let tiers = vec![Tier { up_to: None, rate: dec!(0.10) }];
        let commission =
            line_commission(&tiers, dec!(0.25), dec!(0), dec!(33.33), dec!(3), eur).unwrap();
        // 3.333 + 0.75 = 4.083, rounded half-up to 4.08.
        assert_eq!(commission, dec!(4.08));
    }

    #[test]
    fn tiers_must_ascend_and_end_unbounded() {
        let descending = vec![
            Tier { up_to: Some(dec!(10)), rate: dec!(0.1) },
            Tier { up_to: Some(dec!(5)), rate: dec!(0.1) },
            Tier { up_to: None, rate: dec!(0.1) },
        ];
        assert!(validate_tiers(&descending).is_err());
        let bounded_last = vec![Tier { up_to: Some(dec!(10)), rate: dec!(0.1) }];
        assert!(validate_tiers(&bounded_last).is_err());
        let rate_above_one = vec![Tier { up_to: None, rate: dec!(1.5) }];
        assert!(validate_tiers(&rate_above_one).is_err());
        assert!(validate_tiers(&two_tiers()).is_ok());
        assert!(validate_tiers(&[]).is_err());
    }
}
