//! The HTTP API: routes, thin handlers, authentication, idempotency and problem+json errors.

pub mod accounts;
pub mod auth;
pub mod batches;
pub mod body;
pub mod commission_statements;
pub mod credit_notes;
pub mod entries;
pub mod grouping;
pub mod health;
pub mod idempotency;
pub mod invoices;
pub mod metrics;
pub mod parties;
pub mod payments;
pub mod payouts;
pub mod periods;
pub mod problem;
pub mod reports;
pub mod tax;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{dev::Server, web, App, HttpResponse, HttpServer};
use utoipa::OpenApi;
use utoipa_actix_web::{service_config::ServiceConfig, AppExt};

use crate::config::Config;
use crate::db::Connector;
use auth::BearerScheme;

/// Shared state of every worker.
#[derive(Clone)]
pub struct AppState {
    /// Connections for requests. In an HTTP worker this is the worker's own pool (see
    /// [`serve`]). Elsewhere it is the background pool, which loads the tax rates and syncs
    /// the tax provider.
    pub pool: deadpool_postgres::Pool,
    /// The background pool, also in a worker: the probes of `/readyz` and `/metrics` read
    /// through it, so that they respond while the worker's own connections are all busy.
    pub background: deadpool_postgres::Pool,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    pub tax: Arc<crate::tax::Engine>,
    pub keys: Arc<auth::KeyCache>,
    /// Posting slots and queues of invoices, per tenant, shared by every worker.
    pub groups: Arc<grouping::Groups>,
    /// Invoices waiting for a posting connection of this worker (see [`grouping`]).
    connections: Arc<grouping::ConnectionQueue>,
    connector: Connector,
    pools: Arc<Mutex<Pools>>,
}

/// Every pool opened for one service, so that the metrics count all connections and a
/// shutdown closes them all.
struct Pools {
    all: Vec<deadpool_postgres::Pool>,
    closed: bool,
}

/// Connections of the HTTP worker numbered `index` (from 0) when `workers` share `pool_size`
/// connections: an even share, one more for each of the first workers while the remainder
/// lasts, and at least one. A worker that actix starts again after one failed takes an even
/// share, so the workers never hold more than `pool_size` connections, or one each.
fn worker_pool_size(pool_size: usize, workers: usize, index: usize) -> usize {
    let workers = workers.max(1);
    let remainder_share = usize::from(index < pool_size % workers);
    (pool_size / workers + remainder_share).max(1)
}

/// Connections outside the HTTP workers: the tax rates at start, the tax provider's background
/// sync and the health probes.
const BACKGROUND_CONNECTIONS: usize = 2;

impl AppState {
    /// Builds the state of a service on the database at `url`.
    pub fn new(url: &str, config: Config) -> anyhow::Result<AppState> {
        let connector = Connector::new(url)?;
        let pool = connector.pool(BACKGROUND_CONNECTIONS);
        let tax = Arc::new(crate::tax::Engine::new(pool.clone(), &config));
        let keys = Arc::new(auth::KeyCache::new(config.key_cache_ttl));
        let metrics = Arc::new(metrics::Metrics::new());
        let groups = Arc::new(grouping::Groups::new(config.invoice_slots));
        let connections = Arc::new(grouping::ConnectionQueue::new(
            config.posting_connections,
            config.posting_patience,
        ));
        let pools = Arc::new(Mutex::new(Pools { all: vec![pool.clone()], closed: false }));
        Ok(AppState {
            pool: pool.clone(),
            background: pool,
            config: Arc::new(config),
            metrics,
            tax,
            keys,
            groups,
            connections,
            connector,
            pools,
        })
    }

    /// Returns the state of one HTTP worker, with a pool of its own: its share of the
    /// configured pool size (see [`worker_pool_size`]).
    fn for_worker(&self) -> AppState {
        // NOTE: the pool of a worker that failed stays in the list, so the metrics keep
        // counting its last status.
        let mut pools = self.pools();
        // The background pool is the first one.
        let index = pools.all.len() - 1;
        let size = worker_pool_size(self.config.pool_size, self.config.workers, index);
        let pool = self.connector.pool(size);
        if pools.closed {
            pool.close();
        }
        pools.all.push(pool.clone());
        let connections = Arc::new(grouping::ConnectionQueue::new(
            self.config.posting_connections,
            self.config.posting_patience,
        ));
        AppState { pool, connections, ..self.clone() }
    }

    /// Returns the status of every pool of the service: the background one and one per worker.
    pub fn pool_statuses(&self) -> Vec<deadpool_postgres::Status> {
        self.pools().all.iter().map(deadpool_postgres::Pool::status).collect()
    }

    /// Closes every pool, those of workers that start later included. Their idle connections
    /// end, and requests that need the database get 503 from then on.
    pub fn close_pools(&self) {
        let mut pools = self.pools();
        pools.closed = true;
        for pool in &pools.all {
            pool.close();
        }
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "subledger",
        description = "Receivables subledger: documents in, balanced journal entries out."
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// Registers every `/v1` route. Each resource module adds its handlers here, so the OpenAPI
/// document lists exactly the routes that are served.
fn v1_routes(cfg: &mut ServiceConfig) {
    cfg.service(accounts::create_account)
        .service(accounts::get_account)
        .service(accounts::get_balance)
        .service(entries::create_entry)
        .service(entries::get_entry)
        .service(entries::reverse_entry)
        .service(periods::close_period)
        .service(periods::get_period)
        .service(parties::create)
        .service(parties::show)
        .service(parties::change_agreement)
        .service(parties::list_agreements)
        .service(parties::partner_statement)
        .service(parties::customer_statement)
        .service(invoices::create)
        .service(invoices::show)
        .service(payments::create)
        .service(payments::show)
        .service(credit_notes::create)
        .service(credit_notes::show)
        .service(payouts::create)
        .service(commission_statements::create)
        .service(commission_statements::show)
        .service(reports::open_items)
        .service(reports::aging)
        .service(tax::create_quote)
        .service(batches::create);
}

/// Returns the OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/v1").configure(v1_routes))
        .split_for_parts();
    document_common_errors(api)
}

/// Adds the errors any route can return (a bad parameter or body, a missing or read-only key,
/// a body too large) to every operation that does not list them, and a 409 to every route
/// that takes an `Idempotency-Key`. Declares every error response as
/// `application/problem+json`, the type it is sent with.
fn document_common_errors(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        let read = [item.get.as_mut()].into_iter().flatten().map(|operation| (operation, false));
        let write = [item.post.as_mut()].into_iter().flatten().map(|operation| (operation, true));
        for (operation, writes) in read.chain(write) {
            let responses = &mut operation.responses.responses;
            let mut common = vec![
                ("400", "A parameter, header or the body is malformed"),
                ("401", "The API key is missing or not valid"),
            ];
            if writes {
                common.push(("403", "The API key may only read"));
                common.push(("413", "The body is larger than the service accepts"));
            }
            let keyed = operation.parameters.iter().flatten().any(|parameter| {
                parameter.name == "Idempotency-Key"
                    && parameter.parameter_in == utoipa::openapi::path::ParameterIn::Header
            });
            if keyed {
                common.push(("409", "The Idempotency-Key was used with another request"));
            }
            for (status, description) in common {
                responses.entry(status.to_string()).or_insert_with(|| problem(description));
            }
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".to_string(), content);
                    }
                }
            }
        }
    }
    api
}

/// Starts the HTTP server on `listener`. Each worker has a pool of its own (see
/// `worker_pool_size`).
///
/// The tax rate book is loaded before the first request, so that no request waits for it.
/// Pending tax provider messages are sent in the background.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    state.tax.rates().await.map_err(|err| anyhow::anyhow!("cannot load the tax rates: {err}"))?;
    // Messages left pending by an earlier process go to the tax provider in the background.
    state.tax.spawn_sync();
    let document = Arc::new(openapi());
    let workers = state.config.workers.max(1);
    let server = HttpServer::new(move || {
        // Each worker opens its own connections, so that their I/O runs on its thread.
        let state = state.for_worker();
        let document = document.clone();
        let unmatched_document = document.clone();
        App::new()
            .wrap(actix_web::middleware::from_fn(metrics::observe))
            .app_data(web::Data::new(state))
            .app_data(body::json_config())
            .app_data(body::path_config())
            .app_data(body::query_config())
            .configure(health::routes)
            .route(
                "/v1/openapi.json",
                web::get().to(move || {
                    let document = document.clone();
                    async move { HttpResponse::Ok().json(&*document) }
                }),
            )
            .into_utoipa_app()
            .service(utoipa_actix_web::scope("/v1").configure(v1_routes))
            .into_app()
            .default_service(web::to(move |req: actix_web::HttpRequest| {
                let document = unmatched_document.clone();
                async move { problem::route_not_found(&req, &document) }
            }))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::worker_pool_size;

    #[test]
    fn workers_share_the_pool_size() {
        let sizes = |pool_size, workers| -> Vec<usize> {
            (0..workers).map(|index| worker_pool_size(pool_size, workers, index)).collect()
        };
        assert_eq!(sizes(16, 2), [8, 8]);
        assert_eq!(sizes(16, 3), [6, 5, 5]);
        assert_eq!(sizes(2, 4), [1, 1, 1, 1]);
        assert_eq!(worker_pool_size(16, 3, 3), 5, "a restarted worker takes an even share");
        assert_eq!(worker_pool_size(0, 0, 0), 1);
    }
}
