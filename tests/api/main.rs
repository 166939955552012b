//! Integration tests: the real service on a random loopback port, each test on its own database.

mod audit;
mod demo;
mod entries;
mod errors;
mod helpers;
mod invariants;
mod ledger;
mod service;
