//! Gapless, chronological document numbers per issuer, series and year.
//!
//! Each (issuer, series, year) has its own counter row, bumped by one upsert in the posting
//! transaction: a rollback returns the number, so numbers have no gaps, and the row lock is
//! held only from the bump to the commit. Only documents of the same issuer and series wait
//! for each other; partners issue in their own series, so the platform is never one queue.

use chrono::{DateTime, Datelike, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::error::{Error, ErrorCode};

/// A series name: 1 to 12 upper-case letters or digits, such as "INV" or "CN".
pub fn validate_series(series: &str, field: &str) -> Result<(), Error> {
    let valid = (1..=12).contains(&series.len())
        && series.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if valid {
        return Ok(());
    }
    Err(Error::new(ErrorCode::InvalidField, "a series is 1 to 12 upper-case letters or digits")
        .field(field)
        .value(series))
}

/// Latest accepted issue instant, relative to now: clocks of callers may run a little ahead.
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Takes the next number of `series` for `issuer_id` in the year of `issue_year`, and
/// formats it as `SERIES-YEAR-NNNNNN`. A document dated before the series' last one is
/// rejected, so numbers follow issue instants. A document dated in the future is rejected
/// too: accepted, it would hold the series until that instant.
pub async fn next_number(
    client: &impl GenericClient,
    tenant_id: Uuid,
    issuer_id: Uuid,
    series: &str,
    issued_at: DateTime<Utc>,
    issue_year: i32,
) -> Result<String, Error> {
    check_not_future(issued_at)?;
    let statement = client
        .prepare_cached(
            "INSERT INTO number_series \
             (tenant_id, issuer_id, series, year, last_number, last_issued_at) \
             VALUES ($1, $2, $3, $4, 1, $5) \
             ON CONFLICT (tenant_id, issuer_id, series, year) DO UPDATE \
             SET last_number = number_series.last_number + 1, \
                 last_issued_at = EXCLUDED.last_issued_at \
             WHERE number_series.last_issued_at <= EXCLUDED.last_issued_at \
             RETURNING last_number",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&tenant_id, &issuer_id, &series, &issue_year, &issued_at])
        .await?;
    let Some(row) = row else {
        return Err(issued_before_last(series, issued_at));
    };
    Ok(format_number(series, issue_year, row.get(0)))
}

/// Rejects a document dated in the future: accepted, it would hold its series until then.
pub fn check_not_future(issued_at: DateTime<Utc>) -> Result<(), Error> {
    let latest = Utc::now() + MAX_CLOCK_SKEW;
    if issued_at > latest {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("a document cannot be issued in the future (after {})", latest.to_rfc3339()),
        )
        .field("issued_at")
        .value(issued_at.to_rfc3339()));
    }
    Ok(())
}

/// Returns the error of a document dated before the last one of its series.
pub fn issued_before_last(series: &str, issued_at: DateTime<Utc>) -> Error {
    Error::new(
        ErrorCode::IssuedBeforeSeriesLast,
        format!("series {series} already has a document issued after {issued_at}"),
    )
    .field("issued_at")
    .value(issued_at.to_rfc3339())
}

/// Formats a document number as `SERIES-YEAR-NNNNNN`.
pub fn format_number(series: &str, year: i32, number: i64) -> String {
    format!("{series}-{year}-{number:06}")
}

/// The calendar year of `issued_at` in the issuer's time zone.
pub fn issue_year(issued_at: DateTime<Utc>, zone: chrono_tz::Tz) -> i32 {
    issued_at.with_timezone(&zone).year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_is_padded() {
        assert_eq!(format_number("INV", 2026, 42), "INV-2026-000042");
    }

    #[test]
    fn series_names_are_checked() {
        assert!(validate_series("INV", "series").is_ok());
        assert!(validate_series("inv", "series").is_err());
        assert!(validate_series("", "series").is_err());
        assert!(validate_series("ABCDEFGHIJKLM", "series").is_err());
    }

    #[test]
    fn year_follows_issuer_zone() {
        let instant: DateTime<Utc> = "2026-12-31T23:30:00Z".parse().unwrap();
        assert_eq!(issue_year(instant, chrono_tz::Europe::Berlin), 2027);
        assert_eq!(issue_year(instant, chrono_tz::America::New_York), 2026);
    }
}
