//! Integration tests: the real service on a random loopback port, each test on its own database.

mod demo;
mod helpers;
mod ledger;
mod service;
