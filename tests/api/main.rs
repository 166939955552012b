//! Integration tests: the real service on a random loopback port, each test on its own database.

mod billing;
mod billing_concurrency;
mod billing_errors;
mod billing_properties;
mod billing_snapshots;
mod billing_support;
mod helpers;
mod invariants;
mod ledger;
mod service;
