//! Databases for tests: every test gets its own database, cloned from a template that holds
//! the migrated schema, on the server named by `DATABASE_URL` or on a private embedded cluster.

use std::sync::OnceLock;

use anyhow::Context;
use tokio_postgres::NoTls;

use super::embedded::EmbeddedPostgres;

/// The server every test database of this process lives on.
struct TestServer {
    /// Connection string of the server's maintenance database (`postgres` or the one given).
    admin_url: String,
    _cluster: Option<EmbeddedPostgres>,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A database created for one test and dropped when the value is dropped.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh, migrated database.
    pub async fn create() -> anyhow::Result<TestDatabase> {
        let server = server()?;
        let template =
            TEMPLATE.get_or_try_init(|| create_template(&server.admin_url)).await?.clone();
        let name = format!("subledger_test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&server.admin_url).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .with_context(|| format!("cannot create test database {name}"))?;
        Ok(TestDatabase {
            url: database_url(&server.admin_url, &name)?,
            name,
            admin_url: server.admin_url.clone(),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await, so a short-lived thread with its own runtime removes the database.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = connect(&admin_url).await?;
                admin.batch_execute(&statement).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("could not drop test database {}: {err:#}", self.name);
        }
    }
}

fn server() -> anyhow::Result<&'static TestServer> {
    if let Some(server) = SERVER.get() {
        return Ok(server);
    }
    let server = match std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) {
        Some(url) => TestServer { admin_url: url, _cluster: None },
        None => {
            let cluster = EmbeddedPostgres::start_temporary()?;
            TestServer { admin_url: cluster.url("postgres"), _cluster: Some(cluster) }
        }
    };
    // A concurrent initialisation may have won; its server is used and ours is dropped.
    let _ = SERVER.set(server);
    SERVER.get().context("test server was not initialised")
}

/// Creates the migrated template once per migration set. An advisory lock keeps two test
/// processes on one server from building it at the same time.
async fn create_template(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("subledger_template_{}", super::migrations_fingerprint());
    let admin = connect(admin_url).await?;
    admin.execute("SELECT pg_advisory_lock(7305511)", &[]).await?;
    let exists =
        admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        let building = format!("{name}_building");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await?;
        admin.batch_execute(&format!("CREATE DATABASE {building}")).await?;
        super::migrate(&database_url(admin_url, &building)?)
            .await
            .context("cannot migrate the test template")?;
        admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await?;
    }
    admin.execute("SELECT pg_advisory_unlock(7305511)", &[]).await?;
    Ok(name)
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| "cannot connect to the test database server".to_string())?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            eprintln!("test database connection failed: {err}");
        }
    });
    Ok(client)
}

/// Replaces the database name in a `postgres://` URL.
pub fn database_url(server_url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).context("DATABASE_URL has no scheme")?;
    let path_start = base[authority_start..].find('/').map(|i| i + authority_start);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_name() {
        assert_eq!(
            database_url("postgres://u@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgres://u@h:1?sslmode=disable", "x").unwrap(),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}
