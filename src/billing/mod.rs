//! Business documents and their posting rules: invoices, payments and clearing, commissions,
//! credit notes, payouts and partner agreements.

pub mod accounts;
pub mod allocation;
pub mod commission;
pub mod credit_note;
pub mod invoice;
pub mod numbering;
pub mod parties;
pub mod payment;
pub mod payout;
pub mod payout_run;
pub mod posting;
pub mod pricing;
pub mod proration;
pub mod reports;
pub mod taxes;
