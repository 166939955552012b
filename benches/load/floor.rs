//! The raw PostgreSQL floor: pgbench running `benches/pgbench/invoice.sql` against the same
//! database, at the same concurrency, for the same warm-up and duration as the service. The
//! same script, run as the checked floor, writes into the service's own tables instead of
//! copies without triggers and foreign keys.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cpu::{self, PerDocument};
use crate::setup::Mode;

/// The floor's schema, written once per database before the first floor run.
const SCHEMA: &str = include_str!("../pgbench/floor_schema.sql");

/// The checked floor's tenant, parties and accounts in the service's tables.
const CHECKED_SETUP: &str = include_str!("../pgbench/checked_floor_setup.sql");

/// The tables a floor run writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// Copies of the service's tables in schema `floor`, without triggers and foreign keys.
    Copies,
    /// The service's own tables, with every trigger and foreign key.
    Checked,
}

impl Tables {
    /// Returns the row kind of its runs in the report.
    pub fn kind(self) -> &'static str {
        match self {
            Tables::Copies => "floor",
            Tables::Checked => "checked_floor",
        }
    }

    fn tenant(self) -> &'static str {
        match self {
            Tables::Copies => "00000000-0000-4000-8000-00000000f100",
            Tables::Checked => "00000000-0000-4000-8000-00000000f200",
        }
    }

    fn search_path(self) -> &'static str {
        match self {
            Tables::Copies => "floor",
            Tables::Checked => "public",
        }
    }
}

/// Figures of one pgbench run.
#[derive(Debug, Clone, Default)]
pub struct FloorRun {
    pub transactions: u64,
    pub transactions_per_second: f64,
    pub latency_average_ms: f64,
    pub failed: u64,
    /// CPU time per transaction of the measured run; pgbench is the client.
    pub cpu: PerDocument,
}

/// The JSON documents the service stored for one sample invoice. The floor sends the same
/// text with every invoice, as pgbench variables, and stores it in the same column types as
/// the service, so Postgres checks the determinations' JSON on every write as it does the
/// service's.
#[derive(Debug, Clone)]
pub struct Documents {
    /// The response body, stored as the idempotency record.
    pub response: String,
    /// The invoice's own copy of its tax determination.
    pub invoice_determination: String,
    /// The three tax determinations stored for the sample invoice.
    pub determinations: [String; 3],
}

/// Creates schema `floor` and, with `checked`, the checked floor's tenant. With `reuse`, an
/// existing schema is kept with its rows when it has every table and each table has the
/// column types, compression and checks of its table in `public`.
pub async fn create_schema(
    client: &tokio_postgres::Client,
    reuse: bool,
    checked: bool,
) -> anyhow::Result<()> {
    let current = reuse && client.query_one(FLOOR_IS_CURRENT, &[]).await?.get(0);
    if !current {
        client.batch_execute(SCHEMA).await.context("creating schema floor")?;
    }
    if checked {
        client.batch_execute(CHECKED_SETUP).await.context("creating the checked floor's tenant")?;
    }
    Ok(())
}

/// Query that returns whether each floor table has the column types, compression and checks
/// of its table in `public`, so that a floor copied before a migration changed them is rebuilt.
const FLOOR_IS_CURRENT: &str = "\
    WITH described AS ( \
        SELECT n.nspname AS schema, c.relname AS table_name, \
            'column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
                || ' ' || a.attcompression::text AS item \
        FROM pg_attribute a \
        JOIN pg_class c ON c.oid = a.attrelid \
        JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname IN ('floor', 'public') AND c.relkind = 'r' \
            AND a.attnum > 0 AND NOT a.attisdropped \
        UNION ALL \
        SELECT n.nspname, c.relname, 'check ' || pg_get_constraintdef(k.oid) \
        FROM pg_constraint k \
        JOIN pg_class c ON c.oid = k.conrelid \
        JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname IN ('floor', 'public') AND k.contype = 'c' \
    ), floor AS ( \
        SELECT table_name, item FROM described WHERE schema = 'floor' \
    ), public AS ( \
        SELECT table_name, item FROM described \
        WHERE schema = 'public' AND table_name IN (SELECT table_name FROM floor) \
    ) \
    SELECT to_regclass('floor.tax_determination_lines') IS NOT NULL \
        AND NOT EXISTS ((TABLE floor EXCEPT TABLE public) UNION ALL \
                        (TABLE public EXCEPT TABLE floor))";

/// Runs pgbench for the warm-up, then for the measured duration, and returns the second run
/// with the CPU time it took, the idle service's `service_pid` included.
pub fn run(
    database_url: &str,
    tables: Tables,
    documents: &Documents,
    mode: Mode,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    service_pid: Option<u32>,
) -> anyhow::Result<FloorRun> {
    if !warmup.is_zero() {
        pgbench(database_url, tables, documents, mode, clients, warmup)?;
    }
    let first = cpu::read(service_pid, cpu::Client::Children);
    let mut run = pgbench(database_url, tables, documents, mode, clients, duration)?;
    let last = cpu::read(service_pid, cpu::Client::Children);
    run.cpu = first.per_document(&last, run.transactions);
    Ok(run)
}

fn pgbench(
    database_url: &str,
    tables: Tables,
    documents: &Documents,
    mode: Mode,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<FloorRun> {
    let config: tokio_postgres::Config = database_url.parse()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "127.0.0.1".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pgbench/invoice.sql");
    let mut command = Command::new("pgbench");
    command
        .args(["-n", "-M", "prepared", "-h", &host, "-p", &port.to_string()])
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&script)
        .args(["-D", &format!("tenant={}", tables.tenant())])
        .args(["-D", &format!("checked={}", u8::from(tables == Tables::Checked))])
        .args(["-D", &format!("hot={}", u8::from(mode == Mode::Hot))])
        .args(["-D", &format!("response={}", documents.response)])
        .args(["-D", &format!("invoice_determination={}", documents.invoice_determination)]);
    for (n, determination) in documents.determinations.iter().enumerate() {
        command.args(["-D", &format!("determination{}={determination}", n + 1)]);
    }
    if let Some(user) = config.get_user() {
        command.args(["-U", user]);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).to_string());
    }
    let options = std::env::var("PGOPTIONS").unwrap_or_default();
    command.env("PGOPTIONS", format!("{options} -c search_path={}", tables.search_path()));
    command.arg(config.get_dbname().unwrap_or("subledger"));
    let output = command.output().context("cannot run pgbench: is it installed and on PATH?")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr).trim());
    }
    parse(&stdout).with_context(|| format!("cannot read pgbench output:\n{stdout}"))
}

fn parse(stdout: &str) -> anyhow::Result<FloorRun> {
    let number_after = |prefix: &str| -> Option<f64> {
        let line = stdout.lines().find(|line| line.trim_start().starts_with(prefix))?;
        let rest = line.trim_start().strip_prefix(prefix)?;
        rest.split_whitespace().next()?.parse().ok()
    };
    let transactions_per_second =
        number_after("tps =").ok_or_else(|| anyhow::anyhow!("no tps line"))?;
    Ok(FloorRun {
        transactions: number_after("number of transactions actually processed:").unwrap_or(0.0)
            as u64,
        transactions_per_second,
        latency_average_ms: number_after("latency average =").unwrap_or(0.0),
        failed: number_after("number of failed transactions:").unwrap_or(0.0) as u64,
        cpu: PerDocument::default(),
    })
}
