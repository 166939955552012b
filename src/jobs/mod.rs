//! Batch work: payout runs.
