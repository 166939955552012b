//! Amounts of an invoice once its tax is determined: commission per line, totals and the
//! partner's share.

use rust_decimal::Decimal;
use serde::Serialize;

use super::commission;
use super::parties::Agreement;
use super::taxes::{Liable, TaxLine};
use crate::error::{Error, ErrorCode};
use crate::ledger::posting::AMOUNT_LIMIT;
use crate::money::{Currency, Rounding};

/// Maximum number of decimals of a unit price or a quantity. Metered usage is priced finer than the minor
/// unit (0.035 USD per machine hour), and quantities may be fractional (1.5 hours).
pub const MAX_FINE_DECIMALS: u32 = 6;

/// The rounding rule that brings a line's net amount (quantity × unit price − discount) to the
/// currency's minor unit, half-up as the tax engine's default. Credits by quantity use it too.
pub const LINE_ROUNDING: Rounding = Rounding::HalfUp;

/// A line as the caller sent it: quantity and unit price with at most `MAX_FINE_DECIMALS`
/// decimals, the discount exact in the invoice currency.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Decimal,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    pub line_no: i32,
    pub net: Decimal,
    pub commission: Decimal,
}

/// Everything an invoice posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub sale_taxes: Vec<TaxLine>,
    pub commission_taxes: Vec<TaxLine>,
    pub net_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub commission: Decimal,
    pub commission_tax: Decimal,
    /// Sale tax the partner owes, collected with the sale and passed on in its payable.
    pub partner_tax: Decimal,
    pub partner_share: Decimal,
}

/// Checks that a unit price or quantity has at most `MAX_FINE_DECIMALS` decimals, naming
/// `field` when it has more.
pub fn check_fine(value: Decimal, field: &str) -> Result<Decimal, Error> {
    if value.normalize().scale() > MAX_FINE_DECIMALS {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("at most {MAX_FINE_DECIMALS} decimals are allowed, got {value}"),
        )
        .field(field)
        .value(value.to_string()));
    }
    Ok(value)
}

/// Computes a line's net amount: quantity × unit price − discount, rounded to the currency's
/// minor unit by `LINE_ROUNDING`. A net the ledger could not post (`AMOUNT_LIMIT`) is rejected
/// here, before the tax engine and the commission multiply it.
pub fn line_amount(index: usize, line: &LineInput, currency: Currency) -> Result<Decimal, Error> {
    let too_large = || {
        Error::new(
            ErrorCode::AmountOutOfRange,
            format!("quantity × unit price must be smaller than {AMOUNT_LIMIT}"),
        )
        .field(format!("lines[{index}]"))
        .value(format!("{} × {}", line.quantity, line.unit_price))
    };
    let Some(gross) = line.quantity.checked_mul(line.unit_price) else {
        return Err(too_large());
    };
    if line.discount > gross {
        return Err(Error::new(ErrorCode::InvalidField, "discount is above the line amount")
            .field(format!("lines[{index}].discount"))
            .value(line.discount.to_string()));
    }
    let net = currency.round(gross - line.discount, LINE_ROUNDING);
    if net >= AMOUNT_LIMIT {
        return Err(too_large());
    }
    Ok(net)
}

/// Computes each line's commission. `revenue_before` is the partner's net revenue of the year
/// before this invoice; each line moves it on, so a line crossing a tier bound is split. A
/// commission the ledger could not post (a fixed fee times a huge quantity) is rejected.
pub fn commissions(
    agreement: &Agreement,
    nets: &[Decimal],
    lines: &[LineInput],
    revenue_before: Decimal,
    currency: Currency,
) -> Result<Vec<PricedLine>, Error> {
    let fixed_fee = agreement.fixed_fee(currency);
    let mut revenue = revenue_before;
    let mut priced = Vec::with_capacity(nets.len());
    for (index, (net, line)) in nets.iter().zip(lines).enumerate() {
        let tiers = &agreement.commission_tiers;
        let commission =
            commission::line_commission(tiers, fixed_fee, revenue, *net, line.quantity, currency)
                .filter(|commission| *commission < AMOUNT_LIMIT)
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::AmountOutOfRange,
                        format!("the line's commission must be smaller than {AMOUNT_LIMIT}"),
                    )
                    .field(format!("lines[{index}].quantity"))
                    .value(line.quantity.to_string())
                })?;
        revenue += *net;
        priced.push(PricedLine { line_no: index as i32 + 1, net: *net, commission });
    }
    Ok(priced)
}

/// Adds up an invoice. The partner's share is the net sale, plus the sale tax it owes, less the
/// commission and the commission's tax.
pub fn totals(
    lines: Vec<PricedLine>,
    sale_taxes: Vec<TaxLine>,
    commission_taxes: Vec<TaxLine>,
    currency: Currency,
) -> Priced {
    // Sums of no amounts or of zeros lose the scale; amounts are kept at the minor unit.
    let scaled = |amount: Decimal| currency.round(amount, Rounding::HalfUp);
    let net_total = scaled(lines.iter().map(|line| line.net).sum());
    let tax_total = scaled(sale_taxes.iter().map(|tax| tax.amount).sum());
    let commission = scaled(lines.iter().map(|line| line.commission).sum());
    let commission_tax = scaled(commission_taxes.iter().map(|tax| tax.amount).sum());
    let partner_tax = scaled(
        sale_taxes.iter().filter(|tax| tax.liable == Liable::Partner).map(|tax| tax.amount).sum(),
    );
    Priced {
        lines,
        sale_taxes,
        commission_taxes,
        net_total,
        tax_total,
        total: net_total + tax_total,
        commission,
        commission_tax,
        partner_tax,
        partner_share: net_total + partner_tax - commission - commission_tax,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tax(liable: Liable, amount: Decimal) -> TaxLine {
        TaxLine {
            jurisdiction: "XX".into(),
            rate: dec!(0),
            rule: "test".into(),
            liable,
            base: dec!(10.00),
            amount,
            lines: vec![1],
            legal_mention: None,
        }
    }

    fn line(net: Decimal, commission: Decimal) -> Vec<PricedLine> {
        vec![PricedLine { line_no: 1, net, commission }]
    }

    #[test]
    fn agent_sale_passes_tax_to_partner() {
        let eur = Currency::parse("EUR").unwrap();
        let sale = vec![tax(Liable::Partner, dec!(2.20))];
        let priced = totals(line(dec!(10.00), dec!(1.50)), sale, vec![], eur);
        assert_eq!(priced.total, dec!(12.20));
        assert_eq!(priced.partner_share, dec!(10.70));
    }

    #[test]
    fn platform_tax_is_not_partner_share() {
        let eur = Currency::parse("EUR").unwrap();
        let sale = vec![tax(Liable::Platform, dec!(2.70))];
        let priced = totals(line(dec!(10.00), dec!(1.50)), sale, vec![], eur);
        assert_eq!(priced.total, dec!(12.70));
        assert_eq!(priced.partner_share, dec!(8.50));
    }

    #[test]
    fn commission_tax_is_charged_to_partner() {
        let eur = Currency::parse("EUR").unwrap();
        let commission = vec![tax(Liable::Platform, dec!(0.30))];
        let priced = totals(line(dec!(10.00), dec!(1.50)), vec![], commission, eur);
        assert_eq!(priced.commission_tax, dec!(0.30));
        assert_eq!(priced.partner_share, dec!(8.20));
        assert_eq!(priced.tax_total.to_string(), "0.00");
    }

    #[test]
    fn discount_above_amount_is_rejected() {
        let eur = Currency::parse("EUR").unwrap();
        let input = LineInput { quantity: dec!(1), unit_price: dec!(1.00), discount: dec!(2.00) };
        assert!(line_amount(0, &input, eur).is_err());
        let input = LineInput { quantity: dec!(3), unit_price: dec!(4.99), discount: dec!(0.97) };
        assert_eq!(line_amount(0, &input, eur).unwrap(), dec!(14.00));
    }

    #[test]
    fn fine_unit_prices_round_half_up() {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let cases = [
            (usd, dec!(1000), dec!(0.035), "35.00"),
            (eur, dec!(3), dec!(0.333333), "1.00"),
            (jpy, dec!(2.5), dec!(99), "248"),
            (usd, dec!(1), dec!(0.005), "0.01"),
            (usd, dec!(1), dec!(0.004999), "0.00"),
        ];
        for (currency, quantity, unit_price, net) in cases {
            let input = LineInput { quantity, unit_price, discount: Decimal::ZERO };
            let amount = line_amount(0, &input, currency).unwrap();
            assert_eq!(amount.to_string(), net, "{quantity} x {unit_price} {currency}");
        }
    }

    #[test]
    fn seventh_decimal_is_rejected() {
        assert_eq!(check_fine(dec!(0.123456), "x").unwrap(), dec!(0.123456));
        assert_eq!(check_fine(dec!(0.1234560), "x").unwrap(), dec!(0.1234560));
        let err = check_fine(dec!(0.1234567), "lines[0].unit_price").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("lines[0].unit_price"));
        assert_eq!(err.value, Some(serde_json::json!("0.1234567")));
    }
}
