//! `TestApp`: a running service on its own database, with a tenant and its keys.

use std::net::TcpListener;

use serde_json::Value;
use subledger::config::Config;
use subledger::db::{self, tenancy, testing::TestDatabase};
use subledger::http;
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    /// The test's own connections, apart from the service's.
    pub pool: deadpool_postgres::Pool,
    /// The service's state, whose pools a test may close.
    pub state: http::AppState,
    pub client: reqwest::Client,
    pub tenant_id: Uuid,
    pub write_key: String,
    pub read_key: String,
    /// Kept so the database lives as long as the app; dropping it drops the database.
    #[allow(dead_code)]
    pub db: TestDatabase,
}

/// A response: status, headers and the JSON body (`Value::Null` when the body is not JSON).
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// Starts the service with default settings.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Starts the service with one HTTP worker and one connection, so that the service runs
    /// every statement on a single database session.
    pub async fn spawn_single_connection() -> TestApp {
        TestApp::spawn_with(|config| {
            config.pool_size = 1;
            config.workers = 1;
        })
        .await
    }

    /// Starts the service after `configure` has adjusted the settings.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        subledger::telemetry::init_for_tests();
        let db = TestDatabase::create().await.expect("test database");
        let mut config =
            Config { database_url: Some(db.url.clone()), workers: 2, ..Config::default() };
        configure(&mut config);
        // The test's own connections, which a service with fewer must not starve.
        let pool = db::pool(&db.url, config.pool_size.max(4)).expect("pool");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let state = http::AppState::new(&db.url, config).expect("state");
        let server = http::serve(listener, state.clone()).await.expect("server");
        tokio::spawn(server);
        let (tenant_id, write_key, read_key) = create_tenant(&pool, "Test tenant").await;
        TestApp {
            address,
            pool,
            state,
            client: reqwest::Client::new(),
            tenant_id,
            write_key,
            read_key,
            db,
        }
    }

    /// Creates another tenant on the same database and returns its id and write key.
    pub async fn other_tenant(&self, name: &str) -> (Uuid, String) {
        let (tenant_id, write_key, _) = create_tenant(&self.pool, name).await;
        (tenant_id, write_key)
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        let request = self.client.get(format!("{}{path}", self.address)).bearer_auth(key);
        read(request.send().await.expect("GET")).await
    }

    /// POSTs `body` as JSON with an idempotency key.
    pub async fn post(
        &self,
        path: &str,
        key: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> Response {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        read(request.send().await.expect("POST")).await
    }

    /// POSTs a raw body with the JSON content type.
    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        idempotency_key: &str,
        body: &str,
    ) -> Response {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        read(request.send().await.expect("POST")).await
    }

    /// A direct database connection, for checks and raw SQL.
    pub async fn sql(&self) -> deadpool_postgres::Object {
        self.pool.get().await.expect("database connection")
    }
}

async fn create_tenant(pool: &deadpool_postgres::Pool, name: &str) -> (Uuid, String, String) {
    let mut client = pool.get().await.expect("connection");
    let tx = client.transaction().await.expect("transaction");
    let tenant_id = tenancy::insert_tenant(&tx, name).await.expect("tenant");
    let write = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Write).await.expect("key");
    let read = tenancy::issue_key(&tx, tenant_id, tenancy::KeyKind::Read).await.expect("key");
    subledger::ledger::seed_default_chart(&tx, tenant_id).await.expect("default chart");
    tx.commit().await.expect("commit");
    (tenant_id, write.secret, read.secret)
}

/// Reads a response sent with `TestApp::client` directly.
pub async fn read_response(response: reqwest::Response) -> Response {
    read(response).await
}

async fn read(response: reqwest::Response) -> Response {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response { status, headers, body }
}

/// Reads a counter of `pg_stat_user_tables` (`seq_scan`, `idx_tup_fetch`, ...) for `table`,
/// after flushing the pending statistics of this connection.
pub async fn table_statistic(client: &deadpool_postgres::Object, table: &str, column: &str) -> i64 {
    client.execute("SELECT pg_stat_force_next_flush()", &[]).await.unwrap();
    client.execute("SELECT 1", &[]).await.unwrap();
    client.batch_execute("SELECT pg_stat_clear_snapshot()").await.unwrap();
    let sql = format!("SELECT {column} FROM pg_stat_user_tables WHERE relname = $1");
    client.query_one(&sql, &[&table]).await.unwrap().get(0)
}
