//! What a partner is owed: the partner's share of the funds customers have actually paid,
//! after the payout delay, net of commission and refunds, minus what was already paid out.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{Currency, Rounding};

/// One invoice of the partner, as seen by a payout run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFunds {
    /// Invoice total (gross).
    pub total: Decimal,
    /// Partner's share of the invoice: the payable credited to it, net of commission.
    pub partner_share: Decimal,
    /// Gross amount credited by credit notes issued up to the run date.
    pub credited_total: Decimal,
    /// What those credit notes took back from the partner.
    pub credited_partner_cost: Decimal,
    /// Payments and customer credit allocated to the invoice that are past the payout delay.
    pub cleared: Decimal,
}

impl SaleFunds {
    /// The partner's share of the invoice that cleared funds cover. A fully credited invoice
    /// leaves whatever its credits did not take back, which is negative when the partner
    /// bears the commission of a refund.
    pub fn releasable(&self, currency: Currency) -> Decimal {
        let remaining_total = self.total - self.credited_total;
        let remaining_share = self.partner_share - self.credited_partner_cost;
        if remaining_total <= Decimal::ZERO {
            return remaining_share;
        }
        let covered = self.cleared.min(remaining_total);
        if covered == remaining_total {
            return remaining_share;
        }
        currency.round(remaining_share * covered / remaining_total, Rounding::Down)
    }
}

/// What a run decides for one partner and currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Paid,
    /// The balance is negative: the partner owes it and it is netted against later sales.
    CarriedForward,
    /// The balance is positive but below the agreement's minimum; it waits for a later run.
    BelowMinimum,
    /// Another run already paid this partner and currency for the period.
    AlreadyPaid,
}

/// Decides the payout from the releasable total, what was paid before and the minimum.
pub fn decide(releasable: Decimal, paid_before: Decimal, minimum: Decimal) -> (Outcome, Decimal) {
    let balance = releasable - paid_before;
    if balance < Decimal::ZERO {
        return (Outcome::CarriedForward, balance);
    }
    if balance.is_zero() || balance < minimum {
        return (Outcome::BelowMinimum, balance);
    }
    (Outcome::Paid, balance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn paid_sale(total: Decimal, share: Decimal) -> SaleFunds {
        SaleFunds {
            total,
            partner_share: share,
            credited_total: dec!(0),
            credited_partner_cost: dec!(0),
            cleared: total,
        }
    }

    #[test]
    fn unpaid_sale_releases_nothing() {
        let sale = SaleFunds { cleared: dec!(0), ..paid_sale(dec!(12.20), dec!(10.70)) };
        assert_eq!(sale.releasable(eur()), dec!(0.00));
    }

    #[test]
    fn half_paid_sale_releases_half_rounded_down() {
        let sale = SaleFunds { cleared: dec!(6.10), ..paid_sale(dec!(12.20), dec!(10.70)) };
        assert_eq!(sale.releasable(eur()), dec!(5.35));
        let sale = SaleFunds { cleared: dec!(1.00), ..paid_sale(dec!(3.00), dec!(1.00)) };
        assert_eq!(sale.releasable(eur()), dec!(0.33));
    }

    #[test]
    fn refund_after_payment_costs_partner() {
        let sale = SaleFunds {
            credited_total: dec!(90.00),
            credited_partner_cost: dec!(90.00),
            ..paid_sale(dec!(100.00), dec!(100.00))
        };
        assert_eq!(sale.releasable(eur()), dec!(10.00));
        let later = paid_sale(dec!(200.00), dec!(200.00)).releasable(eur());
        let (outcome, amount) = decide(dec!(10.00) + later, dec!(100.00), dec!(0));
        assert_eq!(outcome, Outcome::Paid);
        assert_eq!(amount, dec!(110.00));
    }

    #[test]
    fn negative_balance_is_carried_forward() {
        let (outcome, amount) = decide(dec!(300.00), dec!(350.00), dec!(0));
        assert_eq!(outcome, Outcome::CarriedForward);
        assert_eq!(amount, dec!(-50.00));
    }

    #[test]
    fn balance_below_minimum_waits() {
        assert_eq!(decide(dec!(20), dec!(0), dec!(25)), (Outcome::BelowMinimum, dec!(20)));
        assert_eq!(decide(dec!(25), dec!(0), dec!(25)), (Outcome::Paid, dec!(25)));
    }

    #[test]
    fn full_credit_with_kept_commission_is_owed() {
        let sale = SaleFunds {
            credited_total: dec!(12.20),
            credited_partner_cost: dec!(12.20),
            ..paid_sale(dec!(12.20), dec!(10.70))
        };
        assert_eq!(sale.releasable(eur()), dec!(-1.50));
    }
}
