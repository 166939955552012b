//! Batch work: payout runs.

pub mod payouts;
