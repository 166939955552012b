//! Health, authentication and the OpenAPI document.

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn missing_key_is_unauthorized() {
    let app = TestApp::spawn().await;
    let response = app.client.get(format!("{}/v1/openapi.json", app.address)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = app.get("/v1/no-such-route", "sl_w_bad").await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body["code"], "not_found");
}

/// A second process on the same data directory (`tenants create` while `serve` runs, or a
/// restart after a crash left the cluster running) joins the running cluster and leaves it
/// running, instead of failing and stopping it.
#[tokio::test]
async fn second_start_joins_running_cluster() {
    use subledger::db::embedded::EmbeddedPostgres;
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let first = tokio::task::spawn_blocking(move || EmbeddedPostgres::start_in(&path, false))
        .await
        .unwrap()
        .unwrap();
    let path = root.path().to_path_buf();
    let second = tokio::task::spawn_blocking(move || EmbeddedPostgres::start_in(&path, false))
        .await
        .unwrap()
        .expect("second start on a running cluster");
    assert_eq!(second.port(), first.port());
    tokio::task::spawn_blocking(move || drop(second)).await.unwrap();
    let url = first.url("postgres");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the first cluster still runs after the second value is dropped");
    tokio::spawn(connection);
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    drop(client);
    tokio::task::spawn_blocking(move || drop(first)).await.unwrap();
}
