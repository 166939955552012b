//! Fiscal periods: calendar months, open until closed. A closed month rejects entries dated in
//! it, in Rust before the insert and in Postgres at commit.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, ErrorCode};

/// A fiscal period, written `YYYY-MM` (`2026-07`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeriodId {
    starts_on: NaiveDate,
}

impl PeriodId {
    /// Parses `YYYY-MM`, rejecting anything else with `invalid_parameter`.
    pub fn parse(text: &str) -> Result<PeriodId, Error> {
        let starts_on = (text.len() == 7)
            .then(|| NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok())
            .flatten();
        starts_on.map(|starts_on| PeriodId { starts_on }).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidParameter,
                format!(
                    "period '{text}' is not valid: expected a month as YYYY-MM, such as 2026-07"
                ),
            )
            .field("id")
            .value(text)
        })
    }

    /// Returns the period that contains `date`.
    pub fn containing(date: NaiveDate) -> PeriodId {
        PeriodId { starts_on: date.with_day(1).unwrap_or(date) }
    }

    pub fn starts_on(self) -> NaiveDate {
        self.starts_on
    }

    /// Returns the last day of the month.
    pub fn ends_on(self) -> NaiveDate {
        let next = self.starts_on.checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX);
        next.pred_opt().unwrap_or(next)
    }
}

impl fmt::Display for PeriodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.starts_on.format("%Y-%m"))
    }
}

impl FromStr for PeriodId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeriodId::parse(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    Open,
    Closed,
}

/// A fiscal period and whether it accepts entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Period {
    /// The month, as `YYYY-MM`.
    pub id: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: PeriodStatus,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Period {
    fn new(id: PeriodId, closed_at: Option<DateTime<Utc>>) -> Period {
        let status = if closed_at.is_some() { PeriodStatus::Closed } else { PeriodStatus::Open };
        Period {
            id: id.to_string(),
            starts_on: id.starts_on,
            ends_on: id.ends_on(),
            status,
            closed_at,
        }
    }
}

/// Closes a period. Closing a closed period returns it unchanged. Waits for transactions that
/// are posting entries to finish, so none dated in the period commits after it closed.
// NOTE: the SHARE lock covers the whole journal_entries table, so while it waits for the
// postings in flight, new postings of every tenant wait too (for as long as the longest
// open posting transaction). A lock per tenant would confine that.
#[tracing::instrument(skip_all, fields(tenant.id = %tenant_id, period.id = %id))]
pub async fn close_period(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: PeriodId,
) -> Result<Period, Error> {
    let statement = client.prepare_cached("SELECT ledger_close_period($1, $2)").await?;
    let row = client.query_one(&statement, &[&tenant_id, &id.starts_on]).await?;
    tracing::info!("fiscal period closed");
    Ok(Period::new(id, Some(row.get(0))))
}

/// Reads a period; every month exists and is open until closed.
pub async fn get_period(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: PeriodId,
) -> Result<Period, Error> {
    let closed_at = closed_at(client, tenant_id, id).await?;
    Ok(Period::new(id, closed_at))
}

/// When the period was closed; `None` while it is open.
pub(crate) const SELECT_CLOSED_AT: &str =
    "SELECT closed_at FROM fiscal_periods WHERE tenant_id = $1 AND starts_on = $2";

pub(crate) async fn closed_at(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: PeriodId,
) -> Result<Option<DateTime<Utc>>, Error> {
    let statement = client.prepare_cached(SELECT_CLOSED_AT).await?;
    let row = client.query_opt(&statement, &[&tenant_id, &id.starts_on]).await?;
    Ok(row.map(|row| row.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_id_parses_months() {
        let id = PeriodId::parse("2024-02").unwrap();
        assert_eq!(id.to_string(), "2024-02");
        assert_eq!(id.starts_on(), NaiveDate::from_ymd_opt(2024, 2, 1).unwrap());
        assert_eq!(id.ends_on(), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        assert_eq!(PeriodId::parse("2026-12").unwrap().ends_on().to_string(), "2026-12-31");
    }

    #[test]
    fn period_id_rejects_others() {
        for text in ["2024-13", "2024-2", "2024-02-01", "", "july"] {
            let err = PeriodId::parse(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameter, "{text}");
        }
    }

    #[test]
    fn period_containing_date() {
        let date = NaiveDate::from_ymd_opt(2026, 7, 20).unwrap();
        assert_eq!(PeriodId::containing(date).to_string(), "2026-07");
    }
}
