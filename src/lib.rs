//! subledger: a receivables subledger with a tax engine. Business documents arrive over HTTP,
//! are taxed from the domiciles of both parties and post as balanced journal entries in
//! PostgreSQL.

pub mod billing;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod jobs;
pub mod ledger;
pub mod money;
pub mod tax;
pub mod telemetry;
