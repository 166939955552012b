//! Pro rata shares of an invoice amount (a tax, a commission) for a partial credit. The credit
//! that completes the base takes whatever is left, so a series of credits that adds up to the
//! whole invoice returns every amount exactly, rounding residue included.

use rust_decimal::Decimal;

use crate::money::{Currency, Rounding};

/// An amount of an invoice that is credited in proportion to a base (a tax and its taxable
/// base, a commission and its line's net amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prorated {
    pub amount: Decimal,
    pub base: Decimal,
    pub credited_amount: Decimal,
    pub credited_base: Decimal,
}

impl Prorated {
    /// Returns the part of `amount` that crediting `base_credited` more of the base reverses:
    /// `amount × base_credited / base`, half-up, or the whole rest when the base is completed.
    pub fn share(&self, base_credited: Decimal, currency: Currency) -> Decimal {
        if self.credited_base + base_credited >= self.base || self.base.is_zero() {
            return self.amount - self.credited_amount;
        }
        let exact = pro_rata(self.amount, base_credited, self.base);
        let rounded = currency.round(exact, Rounding::HalfUp);
        rounded.min(self.amount - self.credited_amount)
    }
}

/// Returns `amount × part / whole` for `part` at most `whole`. When the product overflows, the
/// ratio (at most 1) is taken first, so the result cannot overflow. The ratio keeps 28
/// significant digits, so below the ledger's limit its error stays far under the minor unit.
pub fn pro_rata(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal {
    match amount.checked_mul(part) {
        Some(product) => product / whole,
        None => amount * (part / whole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Four credits, one per line of a 279.16 net invoice taxed 55.83 at 20% on its total.
    #[test]
    fn credits_per_line_return_tax_exactly() {
        let eur = Currency::parse("EUR").unwrap();
        let mut tax = Prorated {
            amount: dec!(55.83),
            base: dec!(279.16),
            credited_amount: dec!(0),
            credited_base: dec!(0),
        };
        let mut shares = Vec::new();
        for net in [dec!(68.33), dec!(57.50), dec!(85.00), dec!(68.33)] {
            let share = tax.share(net, eur);
            shares.push(net + share);
            tax.credited_amount += share;
            tax.credited_base += net;
        }
        assert_eq!(shares, vec![dec!(82.00), dec!(69.00), dec!(102.00), dec!(81.99)]);
        assert_eq!(tax.credited_amount, dec!(55.83));
    }

    #[test]
    fn share_never_exceeds_rest() {
        let eur = Currency::parse("EUR").unwrap();
        let tax = Prorated {
            amount: dec!(0.03),
            base: dec!(0.10),
            credited_amount: dec!(0.03),
            credited_base: dec!(0.05),
        };
        assert_eq!(tax.share(dec!(0.01), eur), dec!(0.00));
    }

    #[test]
    fn zero_base_returns_rest() {
        let eur = Currency::parse("EUR").unwrap();
        let fee = Prorated {
            amount: dec!(0.30),
            base: dec!(0),
            credited_amount: dec!(0),
            credited_base: dec!(0),
        };
        assert_eq!(fee.share(dec!(0), eur), dec!(0.30));
    }

    #[test]
    fn pro_rata_survives_overflowing_product() {
        let amount = dec!(160000000000000.00);
        let share = pro_rata(amount, dec!(500000000000000.00), dec!(800000000000000.00));
        assert_eq!(share, dec!(100000000000000));
        assert_eq!(pro_rata(dec!(1.00), dec!(1), dec!(3)).round_dp(2), dec!(0.33));
    }
}
