//! `subledger demo`: a fresh database, the service in-process, the scenario posted over
//! HTTP, the payout run, and the auditor's reports.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::NoTls;

use super::client::ApiClient;
use super::drive::{self, Posted};
use super::reports::{self, Reports};
use super::scenario::Scenario;
use crate::config::Config;
use crate::db::{self, tenancy, testing::database_url};
use crate::http;
use crate::tax::provider::stub::RunningStub;

/// The database the demo recreates on every run.
pub const DEMO_DATABASE: &str = "subledger_demo";

/// Settings of one demo run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory of the scenario to post.
    pub scenario: PathBuf,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Keep serving the API (and the embedded database) after the reports, until Ctrl-C.
    pub serve: bool,
}

/// The documents one demo run posted and the reports it read.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub posted: Posted,
    pub reports: Reports,
}

/// Runs the demo end to end, prints its reports on standard output and returns them. Fails
/// when a request fails or an integrity view returns rows.
pub async fn run(config: Config, options: DemoOptions) -> anyhow::Result<DemoOutcome> {
    let scenario = Scenario::read(&options.scenario)?;
    let (config, _stub) = with_tax_provider(config)?;
    let database = db::Database::open(config.database_url.as_deref()).await?;
    let url = recreate_database(&database.url).await?;
    db::migrate(&url).await.context("cannot migrate the demo database")?;
    let pool_size = config.pool_size;
    // One connection creates the tenant; the service opens its own.
    let pool = db::pool(&url, 1)?;
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let address = format!("http://{}", listener.local_addr()?);
    let server = http::serve(listener, http::AppState::new(&url, config)?).await?;
    let handle = server.handle();
    let serving = tokio::spawn(server);
    let (tenant_id, write_key, read_key) =
        create_tenant(&pool, &scenario.header.platform.name).await?;

    println!(
        "Posting {} documents of {} through {address} ...",
        drive::document_count(&scenario),
        options.scenario.display()
    );
    // More requests in flight than the service has connections would only wait for one.
    let concurrency = options.concurrency.clamp(1, pool_size.max(1));
    if concurrency < options.concurrency {
        println!("Using {concurrency} requests in flight: as many as the service's connections.");
    }
    let client = ApiClient::new(&address, &write_key)?;
    let progress = progress_bar(drive::document_count(&scenario));
    let posted = drive::post_scenario(&client, &scenario, concurrency, &progress).await;
    progress.finish_and_clear();
    let posted = posted?;
    let started = Instant::now();
    let scope = reports::Scope { tenant_id, as_of: scenario.header.payout_as_of };
    let reports = reports::collect(&url, &scope).await?;
    println!("{}", reports.render());
    print_summary(&posted, started.elapsed());
    print_auditor_access(&url, database.embedded.is_some(), options.serve);
    let broken = reports.broken_invariants();
    if !broken.is_empty() {
        bail!("integrity views returned rows: {}", broken.join(", "));
    }
    if options.serve {
        println!("\nServing the API at {address} (write key {write_key}, read key {read_key}); Ctrl-C stops.");
        serving.await??;
    } else {
        handle.stop(true).await;
    }
    Ok(DemoOutcome { posted, reports })
}

/// Starts the tax provider stub on 127.0.0.1 for sales with a side in the United States,
/// unless a provider is configured. The stub lives as long as the returned value.
fn with_tax_provider(mut config: Config) -> anyhow::Result<(Config, Option<RunningStub>)> {
    if config.tax_provider_url.is_some() {
        return Ok((config, None));
    }
    let stub = RunningStub::start().context("cannot start the tax provider stub")?;
    println!("US sales are taxed by the tax provider stub at {}.", stub.url);
    config.tax_provider_url = Some(stub.url.clone());
    Ok((config, Some(stub)))
}

/// Drops and creates the demo database on the server of `server_url` and returns its URL.
async fn recreate_database(server_url: &str) -> anyhow::Result<String> {
    let (client, connection) = tokio_postgres::connect(server_url, NoTls)
        .await
        .with_context(|| "cannot connect to PostgreSQL to create the demo database".to_string())?;
    let task = tokio::spawn(connection);
    let statements = [
        format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {DEMO_DATABASE}"),
        // The demo's data may be lost in a crash; commits need not wait for the disk.
        format!("ALTER DATABASE {DEMO_DATABASE} SET synchronous_commit = off"),
    ];
    for statement in &statements {
        client
            .batch_execute(statement)
            .await
            .with_context(|| format!("cannot prepare the demo database: {statement}"))?;
    }
    drop(client);
    task.await??;
    database_url(server_url, DEMO_DATABASE)
}

/// Creates the platform's tenant with its default chart and returns its id and keys.
async fn create_tenant(
    pool: &deadpool_postgres::Pool,
    name: &str,
) -> anyhow::Result<(uuid::Uuid, String, String)> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let tenant_id = tenancy::insert_tenant(&tx, name).await?;
    let write = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Write).await?;
    let read = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Read).await?;
    crate::ledger::seed_default_chart(&tx, tenant_id).await?;
    tx.commit().await?;
    Ok((tenant_id, write.secret, read.secret))
}

fn progress_bar(total: u64) -> ProgressBar {
    let progress = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} documents, {per_sec} ({msg})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    progress.set_style(style);
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}

fn print_summary(posted: &Posted, reports_took: Duration) {
    let seconds = posted.elapsed.as_secs_f64();
    let kinds: Vec<String> =
        posted.documents.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    println!(
        "Posted {} documents in {seconds:.1} s ({:.0} documents/s): {}.",
        posted.total(),
        posted.total() as f64 / seconds.max(0.001),
        kinds.join(", ")
    );
    let phases: Vec<String> = posted
        .phases
        .iter()
        .map(|(kind, took)| format!("{kind} {:.1} s", took.as_secs_f64()))
        .collect();
    println!("Time by kind: {}.", phases.join(", "));
    for (kind, n) in &posted.skipped {
        println!("Skipped {n} {kind} with nothing left to pay.");
    }
    if posted.failed_vat_ids > 0 {
        let n = posted.failed_vat_ids;
        println!("{n} customers have VAT ids failing their check digits; they buy as consumers.");
    }
    println!("Reports read in {:.1} s.", reports_took.as_secs_f64());
}

fn print_auditor_access(url: &str, embedded: bool, serve: bool) {
    let auditor_url = with_user(url, "subledger_auditor");
    if embedded && !serve {
        println!(
            "\nThe embedded PostgreSQL stops with this command; the demo's database stays in its \
             data directory (.subledger/postgres unless SUBLEDGER_DATA_DIR is set).\nRun \
             `subledger demo --serve` to keep it running, then connect as the auditor:"
        );
    } else {
        println!("\nConnect as the read-only auditor role:");
    }
    println!("  psql \"{auditor_url}\"");
    println!("Three queries to start with:");
    println!("  SELECT * FROM audit.trial_balance;");
    println!("  SELECT * FROM audit.aging;");
    println!("  SELECT * FROM audit.partner_statement ORDER BY sales_total DESC LIMIT 5;");
}

/// Replaces the user of a `postgres://user@host/...` URL, dropping any password.
fn with_user(url: &str, user: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::with_user;

    #[test]
    fn with_user_replaces_user_and_password() {
        assert_eq!(
            with_user("postgres://app:secret@127.0.0.1:5432/subledger_demo", "subledger_auditor"),
            "postgres://subledger_auditor@127.0.0.1:5432/subledger_demo"
        );
        assert_eq!(
            with_user("postgres://127.0.0.1/x", "subledger_auditor"),
            "postgres://subledger_auditor@127.0.0.1/x"
        );
    }
}
