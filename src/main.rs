//! The `subledger` command line.

use std::net::TcpListener;

use clap::{Parser, Subcommand};
use subledger::config::Config;
use subledger::db::{self, tenancy};
use subledger::{demo, http};

#[derive(Parser)]
#[command(name = "subledger", version, about = "Receivables subledger with a tax engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the HTTP API.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Serve a stub of the external tax provider, computing responses from the US address
    /// fixture.
    TaxProviderStub {
        /// Loopback address and port to listen on, such as 127.0.0.1:8090.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: std::net::SocketAddr,
    },
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Post a month of a marketplace's billing through the API into a fresh database and
    /// print the auditor's reports.
    Demo {
        /// Scenario directory (default: fixtures/demo/full).
        #[arg(long)]
        scenario: Option<std::path::PathBuf>,
        /// Requests in flight at once for parties, payments and credit notes (invoices go in
        /// ordered batches, one request at a time).
        #[arg(long, default_value_t = 12)]
        concurrency: usize,
        /// Keep serving the API and the database after the reports, until Ctrl-C.
        #[arg(long)]
        serve: bool,
    },
    /// Generate input data.
    Fixtures {
        #[command(subcommand)]
        command: FixtureCommand,
    },
    /// Pay partners.
    Payouts {
        #[command(subcommand)]
        command: PayoutCommand,
    },
    /// Work with the external tax provider.
    Tax {
        #[command(subcommand)]
        command: TaxCommand,
    },
}

#[derive(Subcommand)]
enum TaxCommand {
    /// Send the invoice messages that the tax provider has not recorded yet, oldest first.
    /// Exits non-zero when a message failed to send.
    Sync {
        /// Only this tenant; every tenant when absent.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
}

#[derive(Subcommand)]
enum FixtureCommand {
    /// Write the demo scenario of a seed: a marketplace month of partners, customers,
    /// invoices, payments and refunds.
    Generate {
        /// Seed of the generator; the same seed and scale give the same files.
        #[arg(long)]
        seed: u64,
        /// Directory to write into (default: fixtures/demo/<scale>).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Size of the scenario.
        #[arg(long, value_enum, default_value = "full")]
        scale: demo::Scale,
    },
}

#[derive(Subcommand)]
enum PayoutCommand {
    /// Pay each partner what customers' cleared payments owe it, once per month.
    Run {
        /// Last day whose cleared funds count (YYYY-MM-DD), today at the latest.
        #[arg(long)]
        as_of: chrono::NaiveDate,
        /// Only this tenant; every tenant when absent.
        #[arg(long)]
        tenant: Option<uuid::Uuid>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with its default chart of accounts and print its API keys once.
    Create { name: String },
}

fn main() -> anyhow::Result<()> {
    subledger::telemetry::init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(run(cli));
    if let Err(err) = &result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let database = db::Database::open(config.database_url.as_deref()).await?;
            db::migrate(&database.url).await
        }
        Command::TaxProviderStub { bind } => tax_provider_stub(bind).await,
        Command::Tenants { command: TenantCommand::Create { name } } => {
            create_tenant(config, &name).await
        }
        Command::Demo { scenario, concurrency, serve } => {
            let scenario =
                scenario.unwrap_or_else(|| demo::default_scenario_dir(demo::Scale::Full));
            demo::run(config, demo::DemoOptions { scenario, concurrency, serve }).await?;
            Ok(())
        }
        Command::Fixtures { command: FixtureCommand::Generate { seed, out, scale } } => {
            generate_fixtures(seed, out, scale)
        }
        Command::Payouts { command: PayoutCommand::Run { as_of, tenant } } => {
            run_payouts(config, as_of, tenant).await
        }
        Command::Tax { command: TaxCommand::Sync { tenant } } => sync_tax(config, tenant).await,
    }
}

async fn sync_tax(config: Config, tenant: Option<uuid::Uuid>) -> anyhow::Result<()> {
    let database = db::Database::open(config.database_url.as_deref()).await?;
    db::migrate(&database.url).await?;
    let pool = db::pool(&database.url, 2)?;
    let engine = subledger::tax::Engine::new(pool, &config);
    let report = engine.sync(tenant).await?;
    println!(
        "tax provider messages: {} sent, {} failed, {} rejected, {} waiting, {} not tried",
        report.sent, report.failed, report.rejected, report.skipped, report.not_tried
    );
    anyhow::ensure!(
        report.failed == 0,
        "{} messages failed to send and {} were not tried; all of them stay pending, so run \
         this again once the provider answers",
        report.failed,
        report.not_tried
    );
    Ok(())
}

async fn run_payouts(
    config: Config,
    as_of: chrono::NaiveDate,
    tenant: Option<uuid::Uuid>,
) -> anyhow::Result<()> {
    let database = db::Database::open(config.database_url.as_deref()).await?;
    db::migrate(&database.url).await?;
    let pool = db::pool(&database.url, 2)?;
    let runs = subledger::jobs::payouts::run(&pool, as_of, tenant).await?;
    for (tenant_id, run) in runs {
        println!("tenant {tenant_id}: run {} for {}", run.id, run.period);
        for line in run.lines {
            let paid = line.paid.map(|amount| amount.to_string()).unwrap_or_default();
            println!(
                "  partner {} {}: {:?} balance {} paid {paid}",
                line.partner_id, line.currency, line.outcome, line.balance
            );
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let database = db::Database::open(config.database_url.as_deref()).await?;
    db::migrate(&database.url).await?;
    let listener = TcpListener::bind(config.bind)?;
    tracing::info!(address = %listener.local_addr()?, "serving the HTTP API");
    let state = http::AppState::new(&database.url, config)?;
    http::serve(listener, state.clone()).await?.await?;
    state.close_pools();
    tracing::info!("server stopped");
    Ok(())
}

async fn tax_provider_stub(bind: std::net::SocketAddr) -> anyhow::Result<()> {
    anyhow::ensure!(
        bind.ip().is_loopback(),
        "the stub binds only to a loopback address, not {bind}"
    );
    let listener = TcpListener::bind(bind)?;
    tracing::info!(address = %listener.local_addr()?, "serving the tax provider stub");
    subledger::tax::provider::stub::serve(listener)?.await?;
    Ok(())
}

async fn create_tenant(config: Config, name: &str) -> anyhow::Result<()> {
    let database = db::Database::open(config.database_url.as_deref()).await?;
    db::migrate(&database.url).await?;
    let pool = db::pool(&database.url, 1)?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let tenant_id = tenancy::insert_tenant(&tx, name).await?;
    let write = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Write).await?;
    let read = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Read).await?;
    let chart = subledger::ledger::seed_default_chart(&tx, tenant_id).await?;
    tx.commit().await?;
    println!("tenant {name} created: {tenant_id}, with {} accounts", chart.len());
    println!("write key (shown once): {}", write.secret);
    println!("read-only auditor key (shown once): {}", read.secret);
    Ok(())
}

fn generate_fixtures(
    seed: u64,
    out: Option<std::path::PathBuf>,
    scale: demo::Scale,
) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| demo::default_scenario_dir(scale));
    let scenario = demo::generate(seed, scale);
    scenario.write(&out)?;
    let payments: usize = scenario.invoices.iter().map(|invoice| invoice.payments.len()).sum();
    let credits = scenario.invoices.iter().filter(|invoice| invoice.credit.is_some()).count();
    println!(
        "wrote {}: {} partners, {} customers, {} invoices, {} payments, {} credit notes",
        out.display(),
        scenario.header.partners.len(),
        scenario.customers.len(),
        scenario.invoices.len(),
        payments,
        credits
    );
    Ok(())
}
