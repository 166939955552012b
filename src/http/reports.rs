//! `/v1/reports`: open items and aging of receivables.

use actix_web::{get, web};
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Reader;
use super::problem::Problem;
use super::AppState;
use crate::billing::reports::{self, AgingRow, OpenItem};
use crate::error::Error;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenItemsQuery {
    /// Only this customer's items.
    pub customer_id: Option<Uuid>,
    /// Date of the report; today when absent.
    pub as_of: Option<NaiveDate>,
}

/// Lists open items, oldest due first.
#[utoipa::path(
    get, path = "/reports/open-items", tag = "reports", params(OpenItemsQuery),
    responses((status = 200, body = Vec<OpenItem>), (status = 400, body = Problem))
)]
#[get("/reports/open-items")]
pub async fn open_items(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    query: web::Query<OpenItemsQuery>,
) -> Result<web::Json<Vec<OpenItem>>, Error> {
    let client = state.pool.get().await?;
    let as_of = query.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let items = reports::open_items(&client, caller.tenant_id, query.customer_id, as_of).await?;
    Ok(web::Json(items))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgingQuery {
    /// Date the days past due are counted to; today when absent.
    pub as_of: Option<NaiveDate>,
}

/// Ages open receivables per customer and currency: not due, 0–30, 31–60, 61–90, over 90 days.
#[utoipa::path(
    get, path = "/reports/aging", tag = "reports", params(AgingQuery),
    responses((status = 200, body = Vec<AgingRow>), (status = 400, body = Problem))
)]
#[get("/reports/aging")]
pub async fn aging(
    state: web::Data<AppState>,
    Reader(caller): Reader,
    query: web::Query<AgingQuery>,
) -> Result<web::Json<Vec<AgingRow>>, Error> {
    let client = state.pool.get().await?;
    let as_of = query.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    Ok(web::Json(reports::aging(&client, caller.tenant_id, as_of).await?))
}
