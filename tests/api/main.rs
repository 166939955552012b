//! Integration tests: the real service on a random loopback port, each test on its own database.

mod agreements;
mod audit;
mod auditor_sql;
mod batches;
mod billing;
mod billing_concurrency;
mod billing_edges;
mod billing_errors;
mod billing_properties;
mod billing_snapshots;
mod billing_support;
mod billing_unit_prices;
mod billing_vat_ids;
mod cli;
mod demo;
mod document_rows;
mod entries;
mod errors;
mod grouping;
mod helpers;
mod invariants;
mod ledger;
mod plans;
mod service;
mod tax;
mod tax_outbox;
