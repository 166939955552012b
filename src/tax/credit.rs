//! Credit notes at the original rates.
//!
//! A credit of part of a line takes the same fraction of each of that line's original tax
//! shares. Fractions are cumulative over all credits of the line. After each credit, the
//! credits so far add up to round(original tax × credited so far / original amount). The
//! credit that brings a line to its full amount therefore takes exactly what is left, so the
//! rounding residue is never lost or doubled.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{Determination, LineShare, LineTax};
use crate::error::{Error, ErrorCode};
use crate::money::Rounding;

/// The part of one original line to credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditLine {
    /// Index of the line in the original determination.
    pub line: usize,
    /// Amount to credit, on the original's basis: gross when its prices included tax, net
    /// otherwise. Same sign as the original line.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String, example = "40.00")]
    pub amount: Decimal,
}

/// Computes the tax of a credit against `original`, given the credits already made against it
/// (each an earlier result of this function). The result has one line per original line
/// (zero where nothing is credited) and positive amounts for a positive original; the caller
/// posts it reversed.
pub fn credit(
    original: &Determination,
    earlier: &[Determination],
    lines: &[CreditLine],
) -> Result<Determination, Error> {
    let decimals = original.currency.minor_units();
    let mut requested = vec![Decimal::ZERO; original.lines.len()];
    for (i, line) in lines.iter().enumerate() {
        let Some(slot) = requested.get_mut(line.line) else {
            return Err(Error::new(
                ErrorCode::InvalidField,
                format!("the original has {} lines", original.lines.len()),
            )
            .field(format!("lines[{i}].line"))
            .value(line.line));
        };
        original
            .currency
            .exact(line.amount)
            .map_err(|err| Error::from(err).field(format!("lines[{i}].amount")))?;
        *slot += line.amount;
    }
    for earlier_credit in earlier {
        if earlier_credit.lines.len() != original.lines.len() {
            return Err(Error::internal(anyhow::anyhow!(
                "an earlier credit has {} lines, the original {}",
                earlier_credit.lines.len(),
                original.lines.len()
            )));
        }
    }

    let mut credited_lines = Vec::with_capacity(original.lines.len());
    for (index, original_line) in original.lines.iter().enumerate() {
        let line =
            credit_line(original, earlier, index, original_line, requested[index], decimals)?;
        credited_lines.push(line);
    }
    Ok(with_lines(original, credited_lines, decimals))
}

fn basis(determination: &Determination, line: &LineTax) -> Decimal {
    if determination.prices_include_tax {
        line.gross
    } else {
        line.net
    }
}

fn credit_line(
    original: &Determination,
    earlier: &[Determination],
    index: usize,
    original_line: &LineTax,
    requested: Decimal,
    decimals: u32,
) -> Result<LineTax, Error> {
    let full = basis(original, original_line);
    let before: Decimal = earlier.iter().map(|d| basis(d, &d.lines[index])).sum();
    let after = before + requested;
    let within = if full >= Decimal::ZERO {
        requested >= Decimal::ZERO && after <= full
    } else {
        requested <= Decimal::ZERO && after >= full
    };
    if !within {
        return Err(Error::new(
            ErrorCode::CreditExceedsOriginal,
            format!("line {index} has {} left to credit, {requested} requested", full - before),
        )
        .field(format!("lines[{index}].amount"))
        .value(requested.to_string()));
    }

    // Cumulative share of an original amount after this credit, rounded half up.
    let cumulative = |amount: Decimal| -> Decimal {
        if after == full {
            amount
        } else if full.is_zero() {
            Decimal::ZERO
        } else {
            Rounding::HalfUp.round(amount * after / full, decimals)
        }
    };
    let taxes: Vec<LineShare> = original_line
        .taxes
        .iter()
        .enumerate()
        .map(|(c, share)| {
            let taxable_before: Decimal =
                earlier.iter().map(|d| d.lines[index].taxes[c].taxable).sum();
            let amount_before: Decimal =
                earlier.iter().map(|d| d.lines[index].taxes[c].amount).sum();
            LineShare {
                taxable: cumulative(share.taxable) - taxable_before,
                amount: cumulative(share.amount) - amount_before,
            }
        })
        .collect();
    let tax = rescaled(taxes.iter().map(|share| share.amount).sum(), decimals);
    let requested = rescaled(requested, decimals);
    let (net, gross) = if original.prices_include_tax {
        (requested - tax, requested)
    } else {
        (requested, requested + tax)
    };
    Ok(LineTax { net, tax, gross, taxes })
}

fn rescaled(mut amount: Decimal, decimals: u32) -> Decimal {
    amount.rescale(decimals);
    amount
}

/// Copies `original` with new lines and the totals that follow from them.
fn with_lines(original: &Determination, lines: Vec<LineTax>, decimals: u32) -> Determination {
    let mut credited = original.clone();
    for (c, tax) in credited.taxes.iter_mut().enumerate() {
        tax.taxable = rescaled(lines.iter().map(|line| line.taxes[c].taxable).sum(), decimals);
        tax.amount = rescaled(lines.iter().map(|line| line.taxes[c].amount).sum(), decimals);
    }
    credited.net_total = rescaled(lines.iter().map(|line| line.net).sum(), decimals);
    credited.tax_total = rescaled(credited.taxes.iter().map(|tax| tax.amount).sum(), decimals);
    credited.gross_total = credited.net_total + credited.tax_total;
    credited.lines = lines;
    credited.provider_response = None;
    credited
}
