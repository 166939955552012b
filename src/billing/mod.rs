//! Business documents and their posting rules: invoices, payments and clearing, commissions,
//! credit notes, payouts and partner agreements.

pub mod accounts;
pub mod agreements;
pub mod allocation;
pub mod commission;
pub mod commission_statement;
pub mod credit_note;
pub mod invoice;
pub mod invoice_batch;
pub mod numbering;
pub mod parties;
pub mod payment;
pub mod payout;
pub mod payout_run;
pub mod posting;
pub mod pricing;
pub mod proration;
pub mod reports;
pub mod tax_errors;
pub mod tax_messages;
pub mod taxes;

use rust_decimal::Decimal;

use crate::money::Currency;

/// Reads an amount column at the currency's minor-unit scale: Postgres returns a zero without
/// the scale it was written with.
pub(crate) fn amount_at(row: &tokio_postgres::Row, index: usize, currency: Currency) -> Decimal {
    let mut amount: Decimal = row.get(index);
    amount.rescale(currency.minor_units());
    amount
}
