//! Commission statements: once a month, the platform invoices each partner the commission on
//! its agent sales, in the platform's own number series. The tax follows the partner's
//! domicile: domestic VAT, EU reverse charge with its legal mention, or out of scope.
//!
//! The statement posts no entry of its own: each sale's entry already moved the commission
//! and its tax from the partner's payable to commission revenue and tax payable, so the
//! statement is the tax document for amounts the ledger holds.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::numbering;
use super::parties::{self, PartyRole};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;

/// A request for a partner's commission statement of one month.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommissionStatement {
    pub partner_id: Uuid,
    #[schema(value_type = String, example = "EUR")]
    pub currency: String,
    /// Month covered, `YYYY-MM`; it must be over when the statement is issued.
    #[schema(example = "2026-10")]
    pub period: String,
    pub issued_at: DateTime<Utc>,
}

/// An issued commission statement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommissionStatement {
    pub id: Uuid,
    pub number: String,
    pub issuer_id: Uuid,
    pub partner_id: Uuid,
    pub currency: String,
    pub period: String,
    pub issued_at: DateTime<Utc>,
    /// Sales and credit notes covered; credit notes carry negative amounts.
    #[schema(value_type = Object)]
    pub lines: serde_json::Value,
    /// Commission tax per jurisdiction, rate and rule, with any legal mention.
    #[schema(value_type = Object)]
    pub taxes: serde_json::Value,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub commission_tax: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// Returns the first day of the month `period` (`YYYY-MM`) and of the month after it.
fn period_bounds(period: &str) -> Result<(NaiveDate, NaiveDate), Error> {
    let invalid = || {
        Error::new(ErrorCode::InvalidField, "period must be a month such as 2026-10")
            .field("period")
            .value(period)
    };
    let first =
        NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").map_err(|_| invalid())?;
    if period.len() != 7 {
        return Err(invalid());
    }
    let next = first.checked_add_months(chrono::Months::new(1)).ok_or_else(invalid)?;
    Ok((first, next))
}

/// Issues the statement of a partner's month, numbered in the platform's "COM" series.
pub async fn create(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: NewCommissionStatement,
) -> Result<CommissionStatement, Error> {
    let currency =
        Currency::parse(&new.currency).map_err(|err| Error::from(err).field("currency"))?;
    let (first, next) = period_bounds(&new.period)?;
    let partner =
        parties::require(tx, tenant_id, new.partner_id, PartyRole::Partner, "partner_id").await?;
    let platform = parties::platform(tx, tenant_id).await?;
    let mut in_effect = partner.agreements_during(first, next);
    if !in_effect.any(|agreement| agreement.currencies.contains(&currency)) {
        return Err(Error::new(
            ErrorCode::CurrencyNotAllowed,
            "the partner's agreement does not allow this currency",
        )
        .field("currency")
        .value(currency.code()));
    }
    let issue_date = new.issued_at.with_timezone(&platform.time_zone()).date_naive();
    if issue_date < next {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("the month {} is not over on {issue_date}", new.period),
        )
        .field("issued_at")
        .value(new.issued_at.to_rfc3339()));
    }

    let key = Key { tenant_id, partner_id: partner.id, currency, first, next };
    let lines = covered_documents(tx, &key).await?;
    let taxes = taxes_by_rate(tx, &key).await?;
    let commission = sum_of(&lines, "commission", currency);
    let commission_tax = sum_of(&lines, "commission_tax", currency);

    let year = new.issued_at.with_timezone(&platform.time_zone()).year();
    let number =
        numbering::next_number(tx, tenant_id, platform.id, "COM", new.issued_at, year).await?;
    let id = Uuid::now_v7();
    let inserted = tx
        .execute(
            "INSERT INTO commission_statements (tenant_id, id, number, issuer_id, partner_id, \
             currency, period, issued_at, commission, commission_tax, total, lines, taxes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (tenant_id, partner_id, currency, period) DO NOTHING",
            &[
                &tenant_id,
                &id,
                &number,
                &platform.id,
                &partner.id,
                &currency.code(),
                &new.period,
                &new.issued_at,
                &commission,
                &commission_tax,
                &(commission + commission_tax),
                &lines,
                &taxes,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(Error::new(
            ErrorCode::CommissionStatementExists,
            format!("the partner's {currency} statement of {} exists", new.period),
        )
        .field("period")
        .value(new.period.as_str()));
    }
    find(tx, tenant_id, id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("commission statement vanished")))
}

struct Key {
    tenant_id: Uuid,
    partner_id: Uuid,
    currency: Currency,
    first: NaiveDate,
    next: NaiveDate,
}

/// Lists the partner's agent sales of the month and the credit notes of the month on them.
async fn covered_documents(
    client: &impl GenericClient,
    key: &Key,
) -> Result<serde_json::Value, Error> {
    let row = client
        .query_one(
            include_str!("commission_statement_lines.sql"),
            &[&key.tenant_id, &key.partner_id, &key.currency.code(), &key.first, &key.next],
        )
        .await?;
    Ok(row.get(0))
}

/// Sums the commission tax of the month per jurisdiction, rate and rule.
async fn taxes_by_rate(client: &impl GenericClient, key: &Key) -> Result<serde_json::Value, Error> {
    let row = client
        .query_one(
            include_str!("commission_statement_taxes.sql"),
            &[&key.tenant_id, &key.partner_id, &key.currency.code(), &key.first, &key.next],
        )
        .await?;
    Ok(row.get(0))
}

fn sum_of(lines: &serde_json::Value, field: &str, currency: Currency) -> Decimal {
    let mut total = Decimal::ZERO;
    for line in lines.as_array().into_iter().flatten() {
        let amount = line[field].as_str().and_then(|text| text.parse::<Decimal>().ok());
        total += amount.unwrap_or(Decimal::ZERO);
    }
    total.rescale(currency.minor_units());
    total
}

/// Loads a commission statement.
pub async fn find(
    client: &impl GenericClient,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<CommissionStatement>, Error> {
    let row = client
        .query_opt(
            "SELECT id, number, issuer_id, partner_id, currency, period, issued_at, lines, taxes, \
             commission, commission_tax, total FROM commission_statements \
             WHERE tenant_id = $1 AND id = $2",
            &[&tenant_id, &id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let currency = Currency::parse(row.get::<_, &str>(4))?;
    Ok(Some(CommissionStatement {
        id: row.get(0),
        number: row.get(1),
        issuer_id: row.get(2),
        partner_id: row.get(3),
        currency: currency.code().to_string(),
        period: row.get(5),
        issued_at: row.get(6),
        lines: row.get(7),
        taxes: row.get(8),
        commission: super::amount_at(&row, 9, currency),
        commission_tax: super::amount_at(&row, 10, currency),
        total: super::amount_at(&row, 11, currency),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_a_month() {
        let (first, next) = period_bounds("2026-12").unwrap();
        assert_eq!(first.to_string(), "2026-12-01");
        assert_eq!(next.to_string(), "2027-01-01");
        assert!(period_bounds("2026-13").is_err());
        assert!(period_bounds("2026-1").is_err());
        assert!(period_bounds("October").is_err());
    }
}
