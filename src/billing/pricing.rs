//! Amounts of an invoice before it is stored: line nets, tax per jurisdiction on the document
//! total, commission per line and its tax, and the partner's share.

use rust_decimal::Decimal;
use serde::Serialize;

use super::commission;
use super::parties::{Agreement, Party, SellingRole};
use super::taxes::{self, Liable, TaxLine, TaxableLine};
use crate::error::{Error, ErrorCode};
use crate::money::{Currency, Rounding};

/// A line as the caller sent it, already checked to be exact in the invoice currency.
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
    pub partner_share: Decimal,
}

/// The parties of a sale.
pub struct SaleParties<'a> {
    pub seller: &'a Party,
    pub customer: &'a Party,
    pub platform: &'a Party,
    pub agreement: &'a Agreement,
}

/// Computes a line's amount: quantity × unit price − discount, half-up.
pub fn line_amount(index: usize, line: &LineInput, currency: Currency) -> Result<Decimal, Error> {
    let gross = line.quantity * line.unit_price;
    if line.discount > gross {
        return Err(Error::new(ErrorCode::InvalidField, "discount is above the line amount")
            .field(format!("lines[{index}].discount"))
            .value(line.discount.to_string()));
    }
    Ok(currency.round(gross - line.discount, Rounding::HalfUp))
}

/// Prices an invoice. `revenue_before` is the partner's net revenue of the year before this
/// invoice; it selects the commission tier.
pub fn price(
    parties: &SaleParties<'_>,
    lines: &[LineInput],
    prices_include_tax: bool,
    revenue_before: Decimal,
    currency: Currency,
) -> Result<Priced, Error> {
    let role = parties.agreement.selling_role;
    let supplier = match role {
        SellingRole::Agent => parties.seller,
        SellingRole::Supplier => parties.platform,
    };
    let choice = taxes::choose_rate(supplier, parties.customer);
    let mut taxable = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        taxable.push(TaxableLine {
            line_no: index as i32 + 1,
            amount: line_amount(index, line, currency)?,
            choice: choice.clone(),
        });
    }
    let sale_taxes = taxes::tax_lines(
        &taxable,
        |choice| taxes::sale_liable(role, choice),
        prices_include_tax,
        currency,
    );
    let nets = line_nets(&taxable, &sale_taxes, prices_include_tax, currency);
    let mut priced_lines = Vec::with_capacity(lines.len());
    let mut revenue = revenue_before;
    let fixed_fee = parties.agreement.fixed_fee(currency);
    for ((line, net), input) in taxable.iter().zip(&nets).zip(lines) {
        let tiers = &parties.agreement.commission_tiers;
        let commission =
            commission::line_commission(tiers, fixed_fee, revenue, *net, input.quantity, currency);
        revenue += *net;
        priced_lines.push(PricedLine { line_no: line.line_no, net: *net, commission });
    }
    Ok(totals(parties, priced_lines, sale_taxes, currency))
}

/// Splits each tax group's base over its lines. Without tax included the line amounts are the
/// nets; with tax included each line's net is its gross divided by (1 + rate), half-up, and the
/// group's last line takes the rounding difference so that the nets add up to the base.
fn line_nets(
    taxable: &[TaxableLine],
    sale_taxes: &[TaxLine],
    prices_include_tax: bool,
    currency: Currency,
) -> Vec<Decimal> {
    let mut nets: Vec<Decimal> = taxable.iter().map(|line| line.amount).collect();
    if !prices_include_tax {
        return nets;
    }
    for group in sale_taxes {
        let mut assigned = Decimal::ZERO;
        for (position, line_no) in group.lines.iter().enumerate() {
            let index = (*line_no - 1) as usize;
            let net = if position + 1 == group.lines.len() {
                group.base - assigned
            } else {
                currency
                    .round(taxable[index].amount / (Decimal::ONE + group.rate), Rounding::HalfUp)
            };
            assigned += net;
            nets[index] = net;
        }
    }
    nets
}

fn totals(
    parties: &SaleParties<'_>,
    lines: Vec<PricedLine>,
    sale_taxes: Vec<TaxLine>,
    currency: Currency,
) -> Priced {
    let net_total: Decimal = lines.iter().map(|line| line.net).sum();
    let tax_total: Decimal = sale_taxes.iter().map(|tax| tax.amount).sum();
    let commission: Decimal = lines.iter().map(|line| line.commission).sum();
    let total = net_total + tax_total;
    let (commission_taxes, partner_share) = match parties.agreement.selling_role {
        SellingRole::Agent => {
            let taxes = commission_taxes(parties, commission, currency);
            let tax: Decimal = taxes.iter().map(|tax| tax.amount).sum();
            (taxes, total - commission - tax)
        }
        // The platform sells the product itself, so the commission is its margin on the
        // sale, not a service to the partner, and carries no tax of its own.
        SellingRole::Supplier => (Vec::new(), net_total - commission),
    };
    let commission_tax = commission_taxes.iter().map(|tax| tax.amount).sum();
    // Sums of no amounts or of zeros lose the scale; amounts are stored at the minor unit.
    let scaled = |amount: Decimal| currency.round(amount, Rounding::HalfUp);
    Priced {
        lines,
        sale_taxes,
        commission_taxes,
        net_total: scaled(net_total),
        tax_total: scaled(tax_total),
        total: scaled(total),
        commission: scaled(commission),
        commission_tax: scaled(commission_tax),
        partner_share: scaled(partner_share),
    }
}

/// Tax on the commission the platform charges the partner, by the partner's domicile.
fn commission_taxes(
    parties: &SaleParties<'_>,
    commission: Decimal,
    currency: Currency,
) -> Vec<TaxLine> {
    let choice = taxes::choose_rate(parties.platform, parties.seller);
    let line = TaxableLine { line_no: 0, amount: commission, choice };
    let liable = |choice: &taxes::RateChoice| {
        if choice.legal_mention.is_some() {
            Liable::Customer
        } else {
            Liable::Platform
        }
    };
    let mut lines = taxes::tax_lines(&[line], liable, false, currency);
    for line in &mut lines {
        line.lines.clear();
    }
    lines
}
