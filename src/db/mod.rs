//! Database access: the connection pool, embedded migrations, the embedded default cluster and
//! per-test databases.

pub mod embedded;
pub mod tenancy;
pub mod testing;

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Transaction};
use tokio_postgres::NoTls;

mod embedded_migrations {
    refinery::embed_migrations!("migrations");
}

/// Builds a connection pool for `url` with at most `size` connections.
pub fn pool(url: &str, size: usize) -> anyhow::Result<Pool> {
    Ok(Connector::new(url)?.pool(size))
}

/// The settings of one database, from which pools are opened.
///
/// The HTTP server opens one pool per worker thread. A connection's I/O runs on the thread
/// that opened it, so a pool shared by every worker hands each request a connection that
/// another thread reads and writes, and every round trip then wakes two threads instead of
/// one.
#[derive(Clone)]
pub struct Connector {
    config: tokio_postgres::Config,
}

impl Connector {
    pub fn new(url: &str) -> anyhow::Result<Connector> {
        let config = url.parse().map_err(|err| anyhow::anyhow!("invalid DATABASE_URL: {err}"))?;
        Ok(Connector { config })
    }

    /// Opens a pool of at most `size` connections, each connected when first needed. The
    /// connection used last is handed out first, so that a quiet service keeps reusing the
    /// same few.
    pub fn pool(&self, size: usize) -> Pool {
        let manager = Manager::from_config(
            self.config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        Pool::builder(manager)
            .max_size(size)
            .queue_mode(QueueMode::Lifo)
            .build()
            .expect("a pool without timeouts needs no runtime to build")
    }
}

/// Makes the rest of `tx` run each prepared statement on its generic plan, planned once.
///
/// Postgres otherwise plans a statement over array parameters anew on every call, because its
/// generic plan assumes long arrays. That planning took 12% of the database's CPU time when
/// posting invoices (see BENCHMARKS.md). Write transactions send this first. Their statements
/// read by whole keys, so a generic plan suits any tenant. A payout run, which reads by date,
/// sets the default back. Reads and reports keep the default, which plans with the actual
/// dates and tenant. `SET LOCAL` ends with the transaction and works behind a
/// transaction-mode connection pooler.
pub async fn use_generic_plans(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan").await
}

/// Makes the rest of `tx` choose between per-call and generic plans as Postgres does by
/// default, undoing [`use_generic_plans`].
pub async fn use_default_plans(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute("SET LOCAL plan_cache_mode = auto").await
}

/// Applies every embedded migration that the database at `url` has not applied yet, then
/// loads the tax rates fixtures.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let task = tokio::spawn(connection);
    let report = embedded_migrations::migrations::runner().run_async(&mut client).await?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    crate::tax::load_fixtures(&mut client).await?;
    drop(client);
    task.await??;
    Ok(())
}

/// Returns a fingerprint of the embedded migrations, used to name test templates.
pub fn migrations_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for migration in embedded_migrations::migrations::runner().get_migrations() {
        hasher.update(migration.name().as_bytes());
        hasher.update(migration.checksum().to_le_bytes());
    }
    hex::encode(&hasher.finalize()[..6])
}

/// Where the binary's database lives: the server at `DATABASE_URL`, or the embedded default
/// cluster, kept in `SUBLEDGER_DATA_DIR` (default `.subledger/postgres`) and stopped when this
/// value is dropped.
pub struct Database {
    pub url: String,
    pub embedded: Option<embedded::EmbeddedPostgres>,
}

impl Database {
    pub async fn open(database_url: Option<&str>) -> anyhow::Result<Database> {
        if let Some(url) = database_url {
            return Ok(Database { url: url.to_string(), embedded: None });
        }
        let root = std::env::var_os("SUBLEDGER_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(".subledger/postgres"));
        let root = std::path::absolute(&root)?;
        let cluster =
            tokio::task::spawn_blocking(move || embedded::EmbeddedPostgres::start_in(&root, true))
                .await??;
        let admin_url = cluster.url("postgres");
        let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await?;
        let task = tokio::spawn(connection);
        let exists =
            client.query_opt("SELECT 1 FROM pg_database WHERE datname = 'subledger'", &[]).await?;
        if exists.is_none() {
            client.batch_execute("CREATE DATABASE subledger").await?;
        }
        drop(client);
        task.await??;
        let event = if cluster.started_here() {
            "embedded PostgreSQL started"
        } else {
            "joined the running embedded PostgreSQL"
        };
        tracing::info!(data_dir = %cluster.data_dir().display(), port = cluster.port(), "{event}");
        Ok(Database { url: cluster.url("subledger"), embedded: Some(cluster) })
    }
}
