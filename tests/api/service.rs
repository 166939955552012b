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

/// `/readyz` and `/metrics` respond while a request uses the worker's only connection.
#[tokio::test]
async fn probes_respond_while_pool_busy() {
    let app = TestApp::spawn_single_connection().await;
    let (mut locker, connection) =
        tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE journal_entries IN SHARE ROW EXCLUSIVE MODE").await.unwrap();

    let body = crate::entries::entry_body("2026-07-01", "10.00");
    let blocked = {
        let request = app
            .client
            .post(format!("{}/v1/entries", app.address))
            .bearer_auth(&app.write_key)
            .header("Idempotency-Key", "probe-1")
            .json(&body);
        tokio::spawn(async move { request.send().await.map(|response| response.status()) })
    };
    let client = app.sql().await;
    let mut waiting = 0;
    for _ in 0..100 {
        waiting = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 1, "the entry is not waiting on the lock");

    for probe in ["readyz", "metrics"] {
        let response = app
            .client
            .get(format!("{}/{probe}", app.address))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|err| panic!("/{probe} timed out: {err}"));
        assert_eq!(response.status().as_u16(), 200, "/{probe}");
    }
    lock.rollback().await.unwrap();
    assert_eq!(blocked.await.unwrap().unwrap().as_u16(), 201);
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
    assert!(first.started_here());
    assert!(!second.started_here());
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

/// Dropping a temporary cluster stops it and removes its directory.
#[tokio::test]
async fn temporary_cluster_is_removed() {
    use subledger::db::embedded::EmbeddedPostgres;
    let cluster =
        tokio::task::spawn_blocking(EmbeddedPostgres::start_temporary).await.unwrap().unwrap();
    let root = cluster.data_dir().parent().unwrap().to_path_buf();
    assert!(root.join("data").join("PG_VERSION").exists(), "{}", root.display());
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    assert!(!root.exists(), "{} is still there", root.display());
}

#[tokio::test]
async fn header_errors_name_the_header() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/entries", app.address);
    let body = serde_json::json!({});
    let post = app.client.post(&url).header("Idempotency-Key", "h-1").json(&body);
    let cases = [
        (post.try_clone().unwrap(), "Authorization"),
        (post.try_clone().unwrap().bearer_auth("sl_w_bad"), "Authorization"),
        (post.try_clone().unwrap().bearer_auth(&app.read_key), "Authorization"),
        (app.client.post(&url).bearer_auth(&app.write_key).json(&body), "Idempotency-Key"),
    ];
    for (index, (request, field)) in cases.into_iter().enumerate() {
        let response = crate::helpers::read_response(request.send().await.unwrap()).await;
        assert_eq!(response.body["field"], field, "case {index}: {}", response.body);
    }
    let response = app
        .client
        .post(&url)
        .bearer_auth(&app.write_key)
        .header("Idempotency-Key", "h-2")
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let response = crate::helpers::read_response(response).await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.body["field"], "Content-Type");
    assert_eq!(response.body["value"], "text/plain");
}

/// A valid key is cached for the cache's time to live. Once deleted from the database, it still
/// works until its entry expires and is rejected after. With no time to live, every request
/// reads the key.
#[tokio::test]
async fn deleted_key_expires_from_cache() {
    use std::time::Duration;
    let ttl = Duration::from_secs(3);
    let path = "/v1/accounts/bank.EUR";
    for ttl in [ttl, Duration::ZERO] {
        let app = TestApp::spawn_with(|config| config.key_cache_ttl = ttl).await;
        assert_eq!(app.get(path, &app.read_key).await.status, 200);
        let delete = "DELETE FROM api_keys WHERE tenant_id = $1 AND kind = 'read'";
        app.sql().await.execute(delete, &[&app.tenant_id]).await.unwrap();
        if !ttl.is_zero() {
            assert_eq!(app.get(path, &app.read_key).await.status, 200, "the key is cached");
            tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        }
        let rejected = app.get(path, &app.read_key).await;
        assert_eq!(rejected.status, 401, "ttl {ttl:?}: {}", rejected.body);
        assert_eq!(app.get(path, &app.write_key).await.status, 200);
    }
}

/// Every accepted spelling of a key (the tenant id with or without hyphens) shares the cache
/// entry of the key as issued, so spellings cannot fill the cache with one key.
#[tokio::test]
async fn key_spellings_share_cache_entry() {
    use std::time::Duration;
    let app = TestApp::spawn_with(|config| config.key_cache_ttl = Duration::from_secs(60)).await;
    let path = "/v1/accounts/bank.EUR";
    let parts: Vec<&str> = app.read_key.splitn(5, '_').collect();
    assert_eq!(parts.len(), 5, "issued key: {}", app.read_key);
    let tenant = uuid::Uuid::parse_str(parts[2]).unwrap().hyphenated().to_string();
    let respelled = format!("sl_r_{tenant}_{}_{}", parts[3], parts[4]);
    assert_eq!(app.get(path, &app.read_key).await.status, 200);
    let delete = "DELETE FROM api_keys WHERE tenant_id = $1 AND kind = 'read'";
    app.sql().await.execute(delete, &[&app.tenant_id]).await.unwrap();
    let response = app.get(path, &respelled).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

/// A key presented with the other kind's tag is rejected. The tag is part of the key as issued.
#[tokio::test]
async fn retagged_key_is_rejected() {
    let app = TestApp::spawn().await;
    let path = "/v1/accounts/bank.EUR";
    for (key, tag, other) in [(&app.read_key, "_r_", "_w_"), (&app.write_key, "_w_", "_r_")] {
        assert!(key.starts_with(&format!("sl{tag}")), "issued key: {key}");
        let retagged = key.replacen(tag, other, 1);
        assert_eq!(app.get(path, key).await.status, 200);
        let response = app.get(path, &retagged).await;
        assert_eq!(response.status, 401, "{retagged}: {}", response.body);
    }
}
