//! Liveness, readiness and Prometheus metrics endpoints.

use actix_web::{web, HttpResponse};

use super::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Reports that the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Reports whether the database accepts queries, so requests can be served. The check uses
/// the background pool, so it responds while this worker's connections are all busy.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = match state.background.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ready {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        tracing::warn!("readiness check failed: database unreachable");
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "database unreachable" }))
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut text = state.metrics.render(&state.pool_statuses());
    match pending_messages(&state).await {
        Ok(pending) => text.push_str(&format!(
            "# HELP subledger_tax_provider_outbox_pending Invoice messages not yet recorded by \
             the tax provider\n\
             # TYPE subledger_tax_provider_outbox_pending gauge\n\
             subledger_tax_provider_outbox_pending {pending}\n"
        )),
        Err(err) => tracing::warn!(error = %err, "failed to count pending tax provider messages"),
    }
    let (fallbacks, unavailable) = state.tax.outage_counts();
    text.push_str(&format!(
        "# HELP subledger_tax_provider_outages_total Tax determinations whose provider call \
         failed or had no provider configured, by what the \
         outage policy did: taxed at fallback rates, or rejected with 503\n\
         # TYPE subledger_tax_provider_outages_total counter\n\
         subledger_tax_provider_outages_total{{outcome=\"fallback\"}} {fallbacks}\n\
         subledger_tax_provider_outages_total{{outcome=\"unavailable\"}} {unavailable}\n"
    ));
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text)
}

async fn pending_messages(state: &AppState) -> Result<i64, crate::error::Error> {
    let client = state.background.get().await?;
    crate::tax::outbox::pending_count(&client).await
}
