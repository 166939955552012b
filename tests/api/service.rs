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
