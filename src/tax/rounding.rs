//! Tax amounts from rates: per line or per document rounding, with every residue kept.
//!
//! Document rounding allocates the rounded document tax to lines by cumulative rounding: line
//! i receives round(sum of exact taxes of lines 0..=i) minus round(sum of lines 0..i), so the
//! line shares add up to the document amount exactly and no line is off by more than one
//! minor unit.

use rust_decimal::Decimal;

use super::model::RoundingScope;
use crate::money::Rounding;

/// One jurisdiction's rate and rounding setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Percent.
    pub rate: Decimal,
    pub scope: RoundingScope,
    pub rule: Rounding,
}

/// One line's amounts and its share of each component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedLine {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
    /// (taxable, tax) per component, in the order of the components.
    pub shares: Vec<(Decimal, Decimal)>,
}

/// Lines and per-component totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub lines: Vec<ComputedLine>,
    /// (taxable, tax) per component.
    pub totals: Vec<(Decimal, Decimal)>,
}

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Computes the tax of `amounts` (net, or gross when `includes_tax`) under `components`, in a
/// currency of `decimals` minor units.
pub fn compute(
    amounts: &[Decimal],
    includes_tax: bool,
    components: &[Component],
    decimals: u32,
) -> Computed {
    let per_line = if includes_tax {
        inclusive(amounts, components, decimals)
    } else {
        exclusive(amounts, components, decimals)
    };
    let totals = (0..components.len())
        .map(|c| {
            let (taxable, tax) =
                per_line.iter().fold((Decimal::ZERO, Decimal::ZERO), |(taxable, tax), line| {
                    (taxable + line.shares[c].0, tax + line.shares[c].1)
                });
            (rescaled(taxable, decimals), rescaled(tax, decimals))
        })
        .collect();
    Computed { lines: per_line, totals }
}

/// Rounds `exact` amounts either each on its own or cumulatively, so that with document
/// rounding the results add up to the rounded sum.
fn round_each(
    exact: &[Decimal],
    scope: RoundingScope,
    rule: Rounding,
    decimals: u32,
) -> Vec<Decimal> {
    match scope {
        RoundingScope::Line => exact.iter().map(|amount| rule.round(*amount, decimals)).collect(),
        RoundingScope::Document => {
            let mut running = Decimal::ZERO;
            let mut allocated = Decimal::ZERO;
            exact
                .iter()
                .map(|amount| {
                    running += *amount;
                    let share = rule.round(running, decimals) - allocated;
                    allocated += share;
                    share
                })
                .collect()
        }
    }
}

fn exclusive(nets: &[Decimal], components: &[Component], decimals: u32) -> Vec<ComputedLine> {
    let per_component: Vec<Vec<Decimal>> = components
        .iter()
        .map(|component| {
            let exact: Vec<Decimal> =
                nets.iter().map(|net| *net * component.rate / HUNDRED).collect();
            round_each(&exact, component.scope, component.rule, decimals)
        })
        .collect();
    nets.iter()
        .enumerate()
        .map(|(i, net)| {
            let net = rescaled(*net, decimals);
            let shares: Vec<(Decimal, Decimal)> =
                per_component.iter().map(|taxes| (net, rescaled(taxes[i], decimals))).collect();
            let tax = rescaled(shares.iter().map(|(_, tax)| *tax).sum(), decimals);
            ComputedLine { net, tax, gross: net + tax, shares }
        })
        .collect()
}

/// Splits gross amounts into net and tax. The combined tax of each line (or of the document)
/// is gross minus the rounded net. The components share it in proportion to their rates, and
/// the last component takes the rounding residue.
fn inclusive(grosses: &[Decimal], components: &[Component], decimals: u32) -> Vec<ComputedLine> {
    let Some(first) = components.first() else {
        return exclusive(grosses, components, decimals);
    };
    let combined: Decimal = components.iter().map(|component| component.rate).sum();
    let exact_nets: Vec<Decimal> =
        grosses.iter().map(|gross| *gross * HUNDRED / (HUNDRED + combined)).collect();
    let nets = round_each(&exact_nets, first.scope, first.rule, decimals);
    let taxes: Vec<Decimal> = grosses.iter().zip(&nets).map(|(gross, net)| *gross - *net).collect();

    // Each component's share of each line's tax, rounded the component's way.
    let per_component: Vec<Vec<Decimal>> = split_by_rate(&taxes, components, combined, decimals);
    grosses
        .iter()
        .enumerate()
        .map(|(i, gross)| {
            let gross = rescaled(*gross, decimals);
            let tax = rescaled(taxes[i], decimals);
            let net = gross - tax;
            let shares =
                per_component.iter().map(|shares| (net, rescaled(shares[i], decimals))).collect();
            ComputedLine { net, tax, gross, shares }
        })
        .collect()
}

fn split_by_rate(
    taxes: &[Decimal],
    components: &[Component],
    combined: Decimal,
    decimals: u32,
) -> Vec<Vec<Decimal>> {
    let mut remaining: Vec<Decimal> = taxes.to_vec();
    components
        .iter()
        .enumerate()
        .map(|(c, component)| {
            if c + 1 == components.len() || combined.is_zero() {
                let last = remaining.clone();
                remaining.iter_mut().for_each(|amount| *amount = Decimal::ZERO);
                return last;
            }
            let exact: Vec<Decimal> =
                taxes.iter().map(|tax| *tax * component.rate / combined).collect();
            let shares = round_each(&exact, component.scope, component.rule, decimals);
            for (left, share) in remaining.iter_mut().zip(&shares) {
                *left -= *share;
            }
            shares
        })
        .collect()
}

fn rescaled(mut amount: Decimal, decimals: u32) -> Decimal {
    amount.rescale(decimals);
    amount
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn component(rate: Decimal, scope: RoundingScope) -> Component {
        Component { rate, scope, rule: Rounding::HalfUp }
    }

    #[test]
    fn document_rounding_rounds_the_sum_half_up() {
        let lines = [dec!(545.75), dec!(545.75)];
        let computed = compute(&lines, false, &[component(dec!(15), RoundingScope::Document)], 2);
        assert_eq!(computed.totals[0].1, dec!(163.73));
        let per_line: Decimal = computed.lines.iter().map(|line| line.tax).sum();
        assert_eq!(per_line, dec!(163.73));
    }

    #[test]
    fn line_rounding_rounds_each_line() {
        let lines = [dec!(545.75), dec!(545.75)];
        let computed = compute(&lines, false, &[component(dec!(15), RoundingScope::Line)], 2);
        assert_eq!(computed.totals[0].1, dec!(163.72));
    }

    #[test]
    fn four_lines_at_23_percent() {
        let lines = [dec!(2.50); 4];
        let per_line = compute(&lines, false, &[component(dec!(23), RoundingScope::Line)], 2);
        let per_document =
            compute(&lines, false, &[component(dec!(23), RoundingScope::Document)], 2);
        assert_eq!(per_line.totals[0].1, dec!(2.32));
        assert_eq!(per_document.totals[0].1, dec!(2.30));
        let shares: Vec<Decimal> = per_document.lines.iter().map(|line| line.tax).collect();
        assert_eq!(shares, vec![dec!(0.58), dec!(0.57), dec!(0.58), dec!(0.57)]);
    }

    #[test]
    fn half_even_would_lose_the_midpoint() {
        let lines = [dec!(545.75), dec!(545.75)];
        let even =
            Component { rate: dec!(15), scope: RoundingScope::Document, rule: Rounding::HalfEven };
        let computed = compute(&lines, false, &[even], 2);
        assert_eq!(computed.totals[0].1, dec!(163.72));
    }

    #[test]
    fn zero_decimal_currency_rounds_to_units() {
        let lines = [dec!(1999), dec!(1)];
        let computed = compute(&lines, false, &[component(dec!(10), RoundingScope::Document)], 0);
        assert_eq!(computed.totals[0].1, dec!(200));
        assert_eq!(computed.lines[0].tax.scale(), 0);
    }

    #[test]
    fn three_decimal_currency_keeps_mils() {
        let lines = [dec!(10.005)];
        let computed = compute(&lines, false, &[component(dec!(10), RoundingScope::Line)], 3);
        // 1.0005 rounds half up to 1.001.
        assert_eq!(computed.totals[0].1, dec!(1.001));
        assert_eq!(computed.lines[0].gross, dec!(11.006));
    }

    #[test]
    fn inclusive_prices_split_into_net_and_tax() {
        let lines = [dec!(120.00)];
        let computed = compute(&lines, true, &[component(dec!(20), RoundingScope::Document)], 2);
        assert_eq!(computed.lines[0].net, dec!(100.00));
        assert_eq!(computed.lines[0].tax, dec!(20.00));
    }

    #[test]
    fn inclusive_two_components_keep_the_gross() {
        let lines = [dec!(114.98), dec!(0.01), dec!(33.33)];
        let components = [
            component(dec!(5), RoundingScope::Document),
            component(dec!(9.975), RoundingScope::Document),
        ];
        let computed = compute(&lines, true, &components, 2);
        for (line, gross) in computed.lines.iter().zip(lines) {
            assert_eq!(line.net + line.tax, gross);
            assert_eq!(line.shares[0].1 + line.shares[1].1, line.tax);
        }
        assert_eq!(computed.lines[0].net, dec!(100.00));
        assert_eq!(computed.totals[0].1 + computed.totals[1].1, dec!(19.32));
    }

    #[test]
    fn negative_lines_round_away_from_zero() {
        let lines = [dec!(-0.05)];
        let computed = compute(&lines, false, &[component(dec!(10), RoundingScope::Line)], 2);
        // -0.005 rounds half away from zero to -0.01.
        assert_eq!(computed.totals[0].1, dec!(-0.01));
    }
}
