//! Integration tests: the real service on a random loopback port, each test on its own database.

mod audit;
mod cli;
mod entries;
mod errors;
mod helpers;
mod invariants;
mod ledger;
mod service;
mod tax;
mod tax_errors;
