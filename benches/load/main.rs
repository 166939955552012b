//! HTTP load driver: posts realistic invoices to subledger at several concurrencies, runs the
//! raw PostgreSQL floor (pgbench) at the same concurrencies against the same database, and
//! reports throughput, latency, errors, memory and growth as a table and as JSON.
//!
//! Run with `cargo bench --bench load -- --help`; BENCHMARKS.md records the figures.

mod cpu;
mod floor;
mod report;
mod service;
mod setup;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use deadpool_postgres::Pool;

use report::{BalanceReads, Machine, Report, Row};
use service::Service;
use setup::{Mode, Shop};
use traffic::{percentile_ms, Plan, Traffic};

/// Bulk load of invoice-shaped entries into the journal, for the growth points.
const GROWTH_SQL: &str = include_str!("growth.sql");

/// Entries bulk-loaded per transaction.
const GROWTH_CHUNK_ENTRIES: i64 = 100_000;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load driver: subledger against the raw PostgreSQL floor")]
struct Options {
    /// Send load to a service already running at this loopback URL instead of starting one.
    /// DATABASE_URL must then name its database (the driver creates tenants and the floor
    /// schema there).
    #[arg(long)]
    url: Option<String>,
    /// Process id of the service given by --url, for its peak memory.
    #[arg(long)]
    service_pid: Option<u32>,
    /// Client counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    concurrency: Vec<usize>,
    /// Tenant layouts to measure: uniform, hot.
    #[arg(long, value_delimiter = ',', default_value = "uniform,hot")]
    modes: Vec<String>,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Warm-up seconds before each measured run.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Times each (mode, concurrency) pair is measured, interleaved.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Seconds of seeding per mode before any measurement (then ANALYZE and a service restart).
    #[arg(long = "seed-seconds", alias = "seed", default_value_t = 10)]
    seed_seconds: u64,
    /// Journal lines bulk-loaded into the hot tenant before seeding, so that no measured run
    /// starts on tables small enough for sequential-scan plans.
    #[arg(long, default_value_t = 300_000)]
    base_lines: i64,
    /// Measure only the growth points (and balance reads), not the concurrency runs.
    #[arg(long)]
    only_growth: bool,
    /// Reuse the tenants, journal and floor tables an earlier run left in DATABASE_URL's
    /// database, so that setup and bulk loading can happen before the measured runs.
    #[arg(long)]
    reuse: bool,
    /// Set up, load and seed, then exit without measuring (for a later run with --reuse).
    #[arg(long)]
    prepare_only: bool,
    /// Skip the pgbench floor.
    #[arg(long)]
    no_floor: bool,
    /// Also run the floor's script against the service's own tables, whose triggers and
    /// foreign keys check every row, right after each floor run.
    #[arg(long)]
    checked_floor: bool,
    /// Documents per batch for the batch runs; 0 skips them.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Concurrent batch clients to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    batch_concurrency: Vec<usize>,
    /// Journal sizes (lines) to grow to and measure after the journal as it is; 0 measures
    /// only the journal as it is.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    growth: Vec<i64>,
    /// Skip the growth points.
    #[arg(long)]
    no_growth: bool,
    /// Clients of the growth runs (hot mode).
    #[arg(long, default_value_t = 8)]
    growth_concurrency: usize,
    /// Balance reads per journal size.
    #[arg(long, default_value_t = 2000)]
    balance_reads: usize,
    /// Run the full-scan balance check (audit.balance_check) at the end.
    #[arg(long)]
    check_balances: bool,
    /// Path of the JSON report, relative to the working directory.
    #[arg(long, default_value = "target/load-report.json")]
    json: PathBuf,
    /// Pool size of the started service (SUBLEDGER_POOL_SIZE).
    #[arg(long, default_value_t = 16)]
    pool_size: usize,
    /// HTTP workers of the started service (SUBLEDGER_WORKERS).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Upper bound on the requests of any one run, whatever its duration.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(options))
}

/// Shared state of one invocation.
struct Bench {
    options: Options,
    database_url: String,
    pool: Pool,
    service: Service,
    shops: Vec<(Mode, Arc<Vec<Shop>>)>,
    rows: Vec<Row>,
    peak_rss_mib: Option<f64>,
    /// Peak RSS of the service at the end of the batch runs (VmHWM counts from its last start).
    batch_peak_rss_mib: Option<f64>,
    runs: usize,
    floor_documents: Option<floor::Documents>,
}

async fn run(options: Options) -> anyhow::Result<()> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average at start: {}", load_average.trim());
    let database = subledger::db::Database::open(database_url_or_embedded()?.as_deref()).await?;
    subledger::db::migrate(&database.url).await?;
    let pool = subledger::db::pool(&database.url, 4)?;
    let service = match &options.url {
        Some(url) => Service::external(url, options.service_pid),
        None => Service::start(&database.url, options.pool_size, options.workers).await?,
    };
    let mut bench = Bench {
        options: options.clone(),
        database_url: database.url.clone(),
        pool,
        service,
        shops: Vec::new(),
        rows: Vec::new(),
        peak_rss_mib: None,
        batch_peak_rss_mib: None,
        runs: 0,
        floor_documents: None,
    };
    bench.prepare().await?;
    if options.prepare_only {
        eprintln!("prepared; measure with --reuse");
        return Ok(());
    }
    let mut balance_reads = Vec::new();
    if !options.only_growth {
        bench.measure_main().await?;
        bench.measure_batches().await?;
        balance_reads.push(bench.balance_reads().await?);
    }
    if !options.no_growth {
        balance_reads.extend(bench.measure_growth().await?);
    }
    let differences =
        if options.check_balances { Some(bench.balance_check().await?) } else { None };
    let modes: Vec<&'static str> = bench.shops.iter().map(|(mode, _)| mode.name()).collect();
    let mut summary = report::summarize(&bench.rows, &modes, &options.concurrency);
    summary.extend(bench.batch_summary());
    let report = Report {
        started_at,
        machine: machine(&bench.pool, load_average.trim()).await?,
        settings: serde_json::json!({
            "concurrency": options.concurrency, "modes": options.modes,
            "duration_s": options.duration, "warmup_s": options.warmup, "rounds": options.rounds,
            "batch_size": options.batch_size, "batch_concurrency": options.batch_concurrency,
            "pool_size": options.pool_size, "workers": options.workers,
            "external_service": options.url,
        }),
        rows: bench.rows.clone(),
        balance_reads,
        peak_rss_mib: bench.peak_rss_mib,
        batch_peak_rss_mib: bench.batch_peak_rss_mib,
        balance_check_differences: differences,
        summary,
    };
    print(&report);
    if let Some(parent) = options.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.json, serde_json::to_string_pretty(&report)?)?;
    eprintln!("JSON report written to {}", options.json.display());
    drop(bench);
    drop(database);
    if let Some(dir) = std::env::var_os("SUBLEDGER_DATA_DIR") {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {dir:?}"))?;
    }
    Ok(())
}

/// DATABASE_URL, or `None` after pointing the embedded cluster at a fresh temporary directory.
fn database_url_or_embedded() -> anyhow::Result<Option<String>> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) {
        return Ok(Some(url));
    }
    let dir = std::env::temp_dir().join(format!("subledger-load-{}", std::process::id()));
    std::env::set_var("SUBLEDGER_DATA_DIR", &dir);
    eprintln!("starting an embedded PostgreSQL (fsync on) in {}", dir.display());
    Ok(None)
}

fn print(report: &Report) {
    println!("\nMachine: {} cores, {}", report.machine.cores, report.machine.postgres);
    for (name, value) in &report.machine.postgres_settings {
        println!("  {name} = {value}");
    }
    println!();
    report::print_table(&report.rows);
    println!("\nCPU time per document in the measured window:\n");
    report::print_cpu_table(&report.rows);
    println!("\n| journal lines | reads | HTTP p50 ms | HTTP p99 ms | SQL p50 ms | SQL p99 ms |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for reads in &report.balance_reads {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} |",
            reads.journal_lines,
            reads.reads,
            reads.http_p50_ms,
            reads.http_p99_ms,
            reads.sql_p50_ms,
            reads.sql_p99_ms
        );
    }
    println!();
    if let Some(rss) = report.peak_rss_mib {
        println!("service peak RSS: {rss:.1} MiB");
    }
    if let Some(rss) = report.batch_peak_rss_mib {
        println!("service peak RSS at the end of the batch runs: {rss:.1} MiB");
    }
    if let Some(differences) = report.balance_check_differences {
        println!("audit.balance_check rows (must be 0): {differences}");
    }
    for line in &report.summary {
        println!("{line}");
    }
}

async fn machine(pool: &Pool, load_average: &str) -> anyhow::Result<Machine> {
    let client = pool.get().await?;
    let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
    let mut settings = Vec::new();
    for name in [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "wal_level",
        "shared_buffers",
        "max_wal_size",
        "checkpoint_timeout",
        "max_connections",
    ] {
        let row = client.query_one("SELECT current_setting($1)", &[&name]).await?;
        settings.push((name.to_string(), row.get(0)));
    }
    Ok(Machine {
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        postgres: version,
        postgres_settings: settings,
        load_average_at_start: load_average.to_string(),
    })
}

impl Bench {
    fn modes(&self) -> anyhow::Result<Vec<Mode>> {
        self.options
            .modes
            .iter()
            .map(|name| match name.as_str() {
                "uniform" => Ok(Mode::Uniform),
                "hot" => Ok(Mode::Hot),
                other => anyhow::bail!("unknown mode '{other}': expected uniform or hot"),
            })
            .collect()
    }

    fn shops(&self, mode: Mode) -> Arc<Vec<Shop>> {
        self.shops.iter().find(|(m, _)| *m == mode).map(|(_, s)| s.clone()).unwrap_or_default()
    }

    /// Creates the tenants, the floor schema and seed data, then ANALYZEs and restarts the
    /// service, so no measured run uses plans cached on empty tables.
    async fn prepare(&mut self) -> anyhow::Result<()> {
        let mut needed = if self.options.only_growth { Vec::new() } else { self.modes()? };
        let growth = !self.options.no_growth || self.options.base_lines > 0;
        if growth && !needed.contains(&Mode::Hot) {
            needed.push(Mode::Hot);
        }
        for mode in needed {
            let started = Instant::now();
            let shops = setup::create(&self.pool, mode, self.options.reuse).await?;
            eprintln!(
                "created {} tenant(s) for {} in {:.1?}",
                shops.len(),
                mode.name(),
                started.elapsed()
            );
            self.shops.push((mode, Arc::new(shops)));
        }
        let mut target = self.options.base_lines;
        if self.options.prepare_only && !self.options.no_growth {
            target = target.max(self.options.growth.iter().copied().max().unwrap_or(0));
        }
        self.grow_to(target).await?;
        if !self.options.no_floor && !self.options.only_growth {
            self.floor_documents = Some(self.sample_documents().await?);
            let client = self.pool.get().await?;
            floor::create_schema(&client, self.options.reuse, self.options.checked_floor).await?;
        }
        let seed = Duration::from_secs(self.options.seed_seconds);
        for (mode, _) in self.shops.clone() {
            eprintln!("seeding {} for {seed:?}", mode.name());
            self.traffic(mode, 8, 1, Duration::ZERO, seed).await?;
            if !self.options.no_floor && !self.options.only_growth {
                for tables in self.floor_tables() {
                    let url = self.database_url.clone();
                    let documents = self.floor_documents()?;
                    tokio::task::spawn_blocking(move || {
                        floor::run(&url, tables, &documents, mode, 8, Duration::ZERO, seed, None)
                    })
                    .await??;
                }
            }
        }
        self.analyze_and_restart().await
    }

    async fn analyze_and_restart(&mut self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        client.batch_execute("ANALYZE").await?;
        drop(client);
        self.service.restart().await
    }

    /// Posts one invoice and reads back the JSON documents the service stored for it, which
    /// the floor then writes with every invoice.
    async fn sample_documents(&mut self) -> anyhow::Result<floor::Documents> {
        let shops = self.shops[0].1.clone();
        let shop = &shops[0];
        // A fixed seed gives every run the same sample, so the floor's documents keep their size.
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
        let body = traffic::invoice(&mut rng, shop, "SAMPLE");
        let response = reqwest::Client::new()
            .post(format!("{}/v1/invoices", self.service.base_url))
            .bearer_auth(&shop.write_key)
            .header("Idempotency-Key", format!("sample-{}", uuid::Uuid::now_v7()))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.as_u16() == 201, "sample invoice failed: {status} {text}");
        let invoice: serde_json::Value = serde_json::from_str(&text)?;
        let id: uuid::Uuid = invoice["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .with_context(|| format!("sample invoice response has no id: {text}"))?;
        // Read back as values and written compact, as the service sends them.
        let client = self.pool.get().await?;
        let invoice_determination: serde_json::Value = client
            .query_one(
                "SELECT tax_determination FROM invoices WHERE tenant_id = $1 AND id = $2",
                &[&shop.tenant_id, &id],
            )
            .await
            .with_context(|| format!("reading back sample invoice {id}"))?
            .get(0);
        let stored: Vec<serde_json::Value> = client
            .query(
                "SELECT determination FROM tax_determinations \
                 WHERE tenant_id = $1 AND document_id = $2 ORDER BY document_kind",
                &[&shop.tenant_id, &id],
            )
            .await
            .with_context(|| format!("reading back the determinations of sample invoice {id}"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let count = stored.len();
        let Ok(determinations) = <[serde_json::Value; 3]>::try_from(stored) else {
            anyhow::bail!("sample invoice {id} has {count} stored tax determinations, expected 3");
        };
        let determinations = determinations.map(|value| value.to_string());
        let invoice_determination = invoice_determination.to_string();
        Ok(floor::Documents { response: text, invoice_determination, determinations })
    }

    /// Returns the tables the floor runs write into, in the order they run.
    fn floor_tables(&self) -> Vec<floor::Tables> {
        let mut tables = vec![floor::Tables::Copies];
        if self.options.checked_floor {
            tables.push(floor::Tables::Checked);
        }
        tables
    }

    fn floor_documents(&self) -> anyhow::Result<floor::Documents> {
        self.floor_documents.clone().context("the floor's documents were not sampled")
    }

    /// Runs clients for one measured window and returns what they did with the journal lines
    /// they added and the sequential scans they caused.
    async fn traffic(
        &mut self,
        mode: Mode,
        concurrency: usize,
        batch_size: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<(Traffic, f64, i64, i64)> {
        self.runs += 1;
        let plan = Plan {
            base_url: self.service.base_url.clone(),
            concurrency,
            warmup,
            duration,
            batch_size,
            max_requests: self.options.max_requests,
            run_tag: format!("r{}-{}", std::process::id(), self.runs),
            service_pid: self.service.pid,
        };
        let before = self.counters().await?;
        let result = traffic::run(&plan, self.shops(mode)).await?;
        let after = self.counters().await?;
        let lines_per_document = if after.entries > before.entries {
            (after.lines - before.lines) as f64 / (after.entries - before.entries) as f64
        } else {
            0.0
        };
        Ok((result, lines_per_document, after.seq_scans - before.seq_scans, before.lines))
    }

    /// Lines and entries inserted so far and sequential scans of the service's tables of more
    /// than 1,000 rows (a scan of a tiny table is the right plan), from the statistics views:
    /// reading them scans no table. Backends report with a delay of up
    /// to a second, but lines and entries of one transaction are reported together, so their
    /// ratio is exact.
    async fn counters(&self) -> anyhow::Result<Counters> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'journal_lines'), 0)::bigint, \
                        coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'journal_entries'), 0)::bigint, \
                        coalesce(sum(seq_scan) FILTER (WHERE n_live_tup > 1000), 0)::bigint \
                 FROM pg_stat_user_tables WHERE schemaname = 'public'",
                &[],
            )
            .await?;
        Ok(Counters { lines: row.get(0), entries: row.get(1), seq_scans: row.get(2) })
    }

    fn row(
        &self,
        kind: &'static str,
        mode: Mode,
        round: usize,
        concurrency: usize,
        batch_size: usize,
        measured: &(Traffic, f64, i64, i64),
    ) -> Row {
        let (traffic, lines_per_document, seq_scans, lines_before) = measured;
        let seconds = traffic.window.as_secs_f64();
        let documents_per_second = traffic.documents as f64 / seconds;
        if let Some(error) = &traffic.first_error {
            eprintln!("  {} errors, first: {error}", traffic.errors);
        }
        Row {
            kind,
            mode: mode.name(),
            round,
            concurrency,
            batch_size,
            documents_per_second,
            entries_per_second: documents_per_second,
            lines_per_second: documents_per_second * lines_per_document,
            p50_ms: percentile_ms(&traffic.latencies_us, 0.50),
            p95_ms: percentile_ms(&traffic.latencies_us, 0.95),
            p99_ms: percentile_ms(&traffic.latencies_us, 0.99),
            errors: traffic.errors,
            seq_scans: *seq_scans,
            journal_lines_before: *lines_before,
            cpu: traffic.cpu,
        }
    }

    fn record(&mut self, row: Row) {
        eprintln!(
            "{} {} round {} c={} b={}: {:.0} docs/s, p99 {:.1} ms, {} errors, {} seq scans",
            row.kind,
            row.mode,
            row.round,
            row.concurrency,
            row.batch_size,
            row.documents_per_second,
            row.p99_ms,
            row.errors,
            row.seq_scans
        );
        self.rows.push(row);
    }

    /// Rounds of (concurrency, mode) pairs, each the floor then the service, back to back.
    async fn measure_main(&mut self) -> anyhow::Result<()> {
        let warmup = Duration::from_secs(self.options.warmup);
        let duration = Duration::from_secs(self.options.duration);
        let top = self.options.concurrency.iter().copied().max().unwrap_or(0);
        for round in 1..=self.options.rounds {
            for clients in self.options.concurrency.clone() {
                for mode in self.modes()? {
                    if !self.options.no_floor {
                        for tables in self.floor_tables() {
                            self.measure_floor(tables, mode, round, clients, warmup, duration)
                                .await?;
                        }
                    }
                    let measured = self.traffic(mode, clients, 1, warmup, duration).await?;
                    let row = self.row("service", mode, round, clients, 1, &measured);
                    self.record(row);
                    if clients == top {
                        self.note_rss();
                    }
                }
            }
        }
        Ok(())
    }

    async fn measure_floor(
        &mut self,
        tables: floor::Tables,
        mode: Mode,
        round: usize,
        clients: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<()> {
        let url = self.database_url.clone();
        let documents = self.floor_documents()?;
        let service_pid = self.service.pid;
        let result = tokio::task::spawn_blocking(move || {
            floor::run(&url, tables, &documents, mode, clients, warmup, duration, service_pid)
        })
        .await??;
        let rate = result.transactions_per_second;
        self.record(Row {
            kind: tables.kind(),
            mode: mode.name(),
            round,
            concurrency: clients,
            batch_size: 1,
            documents_per_second: rate,
            entries_per_second: rate,
            lines_per_second: rate * 6.0,
            p50_ms: result.latency_average_ms,
            p95_ms: 0.0,
            p99_ms: 0.0,
            errors: result.failed,
            seq_scans: 0,
            journal_lines_before: 0,
            cpu: result.cpu,
        });
        Ok(())
    }

    fn note_rss(&mut self) {
        if let Some(rss) = self.service.peak_rss_mib() {
            self.peak_rss_mib = Some(self.peak_rss_mib.map_or(rss, |peak| peak.max(rss)));
        }
    }

    /// Batches of `batch_size` invoices in hot mode, each round next to a single-document run
    /// at the same number of clients.
    async fn measure_batches(&mut self) -> anyhow::Result<()> {
        if self.options.batch_size == 0 {
            return Ok(());
        }
        let warmup = Duration::from_secs(self.options.warmup);
        let duration = Duration::from_secs(self.options.duration);
        for round in 1..=self.options.rounds {
            for clients in self.options.batch_concurrency.clone() {
                let measured = self.traffic(Mode::Hot, clients, 1, warmup, duration).await?;
                let row = self.row("single", Mode::Hot, round, clients, 1, &measured);
                self.record(row);
                let size = self.options.batch_size;
                let measured = self.traffic(Mode::Hot, clients, size, warmup, duration).await?;
                let row = self.row("batch", Mode::Hot, round, clients, size, &measured);
                self.record(row);
            }
        }
        self.batch_peak_rss_mib = self.service.peak_rss_mib();
        Ok(())
    }

    fn batch_summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let best_single = self
            .rows
            .iter()
            .filter(|row| (row.kind == "service" || row.kind == "single") && row.mode == "hot")
            .map(|row| row.documents_per_second)
            .fold(0.0, f64::max);
        for &clients in &self.options.batch_concurrency {
            let batch = report::median_rate(&self.rows, |row| {
                row.kind == "batch" && row.concurrency == clients
            });
            let single = report::median_rate(&self.rows, |row| {
                row.kind == "single" && row.concurrency == clients
            });
            if let (Some(batch), Some(single)) = (batch, single) {
                let clients = report::clients_label(clients);
                lines.push(format!(
                    "batches of {}, {clients}: {batch:.0} docs/s, {:.2}x single documents at \
                     {clients}, {:.2}x the best single-document run in hot mode",
                    self.options.batch_size,
                    batch / single,
                    batch / best_single
                ));
            }
        }
        lines
    }

    /// Reads balances one at a time, over HTTP and as the bare SQL query.
    async fn balance_reads(&mut self) -> anyhow::Result<BalanceReads> {
        let shops = self.shops(Mode::Hot);
        let shops = if shops.is_empty() { self.shops[0].1.clone() } else { shops };
        let shop = &shops[0];
        let reads = self.options.balance_reads;
        traffic::balance_reads(&self.service.base_url, shop, reads.min(200)).await?;
        let http = traffic::balance_reads(&self.service.base_url, shop, reads).await?;
        let sql = self.sql_balance_reads(shop, reads).await?;
        let lines = self.counters().await?.lines;
        Ok(BalanceReads {
            journal_lines: lines,
            reads,
            http_p50_ms: percentile_ms(&http, 0.50),
            http_p99_ms: percentile_ms(&http, 0.99),
            sql_p50_ms: percentile_ms(&sql, 0.50),
            sql_p99_ms: percentile_ms(&sql, 0.99),
        })
    }

    /// Reads balances one at a time with the bare query, over a connection of its own on the
    /// thread that awaits it, as [`traffic::balance_reads`] does over HTTP.
    async fn sql_balance_reads(&self, shop: &Shop, reads: usize) -> anyhow::Result<Vec<u64>> {
        use rand::Rng;
        let url = self.database_url.clone();
        let (tenant_id, accounts) = (shop.tenant_id, shop.accounts.clone());
        traffic::on_own_thread(async move {
            // The pool opens its connection here, on this thread's runtime.
            let pool = subledger::db::pool(&url, 1)?;
            let client = pool.get().await?;
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
            let mut latencies = Vec::with_capacity(reads);
            for _ in 0..reads {
                let account = subledger::ledger::AccountCode::parse(
                    &accounts[rng.gen_range(0..accounts.len())],
                )
                .map_err(|err| anyhow::anyhow!("{err}"))?;
                let sent = Instant::now();
                subledger::ledger::balance(&client, tenant_id, &account, None)
                    .await
                    .map_err(|err| anyhow::anyhow!("{err}"))?;
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            latencies.sort_unstable();
            Ok(latencies)
        })
        .await
    }

    /// Grows the hot tenant's journal to each size, then measures hot posting and balance reads
    /// there. The first point is the journal as it is.
    async fn measure_growth(&mut self) -> anyhow::Result<Vec<BalanceReads>> {
        let mut reads = Vec::new();
        let mut points = vec![0];
        points.extend(self.options.growth.iter().copied().filter(|lines| *lines > 0));
        for target in points {
            self.grow_to(target).await?;
            self.analyze_and_restart().await?;
            let warmup = Duration::from_secs(self.options.warmup);
            let duration = Duration::from_secs(self.options.duration);
            let clients = self.options.growth_concurrency;
            let measured = self.traffic(Mode::Hot, clients, 1, warmup, duration).await?;
            let row = self.row("growth", Mode::Hot, 1, clients, 1, &measured);
            self.record(row);
            reads.push(self.balance_reads().await?);
        }
        Ok(reads)
    }

    /// Bulk-loads the journal up to `target` lines, if it has fewer.
    async fn grow_to(&mut self, target: i64) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let lines: i64 = client.query_one("SELECT count(*) FROM journal_lines", &[]).await?.get(0);
        drop(client);
        if target > lines {
            self.bulk_load(target - lines).await?;
        }
        Ok(())
    }

    /// Appends `lines` journal lines (six per entry) to the hot tenant in chunks.
    async fn bulk_load(&mut self, lines: i64) -> anyhow::Result<()> {
        let shops = self.shops(Mode::Hot);
        let shop = shops.first().context("growth needs the hot tenant")?;
        let started = Instant::now();
        let mut entries = lines / 6;
        let mut client = self.pool.get().await?;
        let first: i64 = client
            .query_one(
                "SELECT count(*) FROM journal_entries WHERE description = 'Bulk-loaded invoice'",
                &[],
            )
            .await?
            .get(0);
        let mut next = first + 1;
        while entries > 0 {
            let chunk = entries.min(GROWTH_CHUNK_ENTRIES);
            let tx = client.transaction().await?;
            tx.batch_execute("SET LOCAL session_replication_role = replica").await?;
            tx.execute(
                GROWTH_SQL,
                &[&shop.tenant_id, &next, &chunk, &shop.commission_account, &shop.tax_account],
            )
            .await?;
            tx.commit().await?;
            next += chunk;
            entries -= chunk;
        }
        drop(client);
        eprintln!("bulk-loaded {} lines in {:.1?}", lines / 6 * 6, started.elapsed());
        Ok(())
    }

    async fn balance_check(&self) -> anyhow::Result<i64> {
        let client = self.pool.get().await?;
        let started = Instant::now();
        let count: i64 =
            client.query_one("SELECT count(*) FROM audit.balance_check", &[]).await?.get(0);
        eprintln!("audit.balance_check: {count} rows in {:.1?}", started.elapsed());
        Ok(count)
    }
}

struct Counters {
    lines: i64,
    entries: i64,
    seq_scans: i64,
}
