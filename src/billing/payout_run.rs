//! Payout runs: for each partner and currency, pay the releasable balance once per month.
//!
//! Each partner and currency is decided under a transaction-level advisory lock, taken in
//! partner order, and the payout row is unique per partner, currency and month. A second run
//! that overlaps the first waits on the lock, then sees the first run's payout and pays
//! nothing more.

use chrono::{Datelike, NaiveDate};
use deadpool_postgres::{GenericClient, Transaction};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::{self, PlatformAccount, Purpose};
use super::parties;
use super::payout::{self, Outcome, SaleFunds};
use super::posting::{self, Draft};
use crate::error::{Error, ErrorCode};
use crate::money::Currency;

/// A request to run payouts as of a date.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayoutRun {
    /// Last day whose cleared funds count; today at the latest.
    pub as_of: NaiveDate,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayoutRun {
    pub id: Uuid,
    pub as_of: NaiveDate,
    /// Month the payouts belong to, `YYYY-MM`.
    pub period: String,
    pub lines: Vec<PayoutLine>,
}

/// What the run decided for one partner and currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayoutLine {
    pub partner_id: Uuid,
    pub currency: String,
    /// Partner's share of all cleared funds to date, net of commission and refunds.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub releasable: Decimal,
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub paid_before: Decimal,
    /// `releasable − paid_before`: paid when at least the minimum, carried forward when negative.
    #[serde(with = "crate::money::amount_str")]
    #[schema(value_type = String)]
    pub balance: Decimal,
    #[schema(value_type = String)]
    pub outcome: Outcome,
    #[serde(with = "crate::money::option_amount_str")]
    #[schema(value_type = Option<String>)]
    pub paid: Option<Decimal>,
    pub payout_id: Option<Uuid>,
}

/// Runs payouts for every partner of the tenant as of `as_of`, in `tx`. `today` is the
/// caller's current date; a run for a later date is rejected.
pub async fn run(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    new: NewPayoutRun,
    today: NaiveDate,
) -> Result<PayoutRun, Error> {
    if new.as_of > today {
        return Err(Error::new(
            ErrorCode::PayoutDateInFuture,
            format!("payouts can run up to today ({today}), not for a later date"),
        )
        .field("as_of")
        .value(new.as_of.to_string()));
    }
    // A run reads a tenant's invoices by date, which the generic plans of write transactions
    // would cost for an average tenant, so it plans with the actual tenant and date.
    crate::db::use_default_plans(tx).await?;
    let id = Uuid::now_v7();
    let period = format!("{:04}-{:02}", new.as_of.year(), new.as_of.month());
    tx.execute(
        "INSERT INTO payout_runs (tenant_id, id, as_of, period) VALUES ($1, $2, $3, $4)",
        &[&tenant_id, &id, &new.as_of, &period],
    )
    .await?;
    let mut lines = Vec::new();
    for (partner_id, currency) in partners_with_sales(tx, tenant_id, new.as_of).await? {
        let key = Key { tenant_id, run_id: id, partner_id, currency, as_of: new.as_of };
        lines.push(decide_one(tx, &key, &period).await?);
    }
    Ok(PayoutRun { id, as_of: new.as_of, period, lines })
}

struct Key {
    tenant_id: Uuid,
    run_id: Uuid,
    partner_id: Uuid,
    currency: Currency,
    as_of: NaiveDate,
}

async fn partners_with_sales(
    tx: &Transaction<'_>,
    tenant_id: Uuid,
    as_of: NaiveDate,
) -> Result<Vec<(Uuid, Currency)>, Error> {
    let rows = tx
        .query(
            "SELECT DISTINCT seller_id, currency FROM invoices \
             WHERE tenant_id = $1 AND issue_date <= $2 ORDER BY seller_id, currency",
            &[&tenant_id, &as_of],
        )
        .await?;
    rows.iter().map(|row| Ok((row.get(0), Currency::parse(row.get::<_, &str>(1))?))).collect()
}

async fn decide_one(tx: &Transaction<'_>, key: &Key, period: &str) -> Result<PayoutLine, Error> {
    let lock_name = format!("payout:{}:{}:{}", key.tenant_id, key.partner_id, key.currency);
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&lock_name]).await?;
    let partner = parties::find_locked(tx, key.tenant_id, key.partner_id).await?;
    let agreement = partner
        .as_ref()
        .and_then(|partner| partner.agreement_on(key.as_of))
        .ok_or_else(|| Error::internal(anyhow::anyhow!("partner without agreement")))?;
    let releasable = releasable(tx, key, i32::from(agreement.payout_delay_days)).await?;
    let paid_before = paid_before(tx, key).await?;
    let already = tx
        .query_opt(
            "SELECT id FROM payouts WHERE tenant_id = $1 AND partner_id = $2 AND currency = $3 \
             AND period = $4",
            &[&key.tenant_id, &key.partner_id, &key.currency.code(), &period],
        )
        .await?;
    let minimum = agreement.minimum_payout(key.currency);
    let (outcome, balance) = match already {
        Some(_) => (Outcome::AlreadyPaid, releasable - paid_before),
        None => payout::decide(releasable, paid_before, minimum),
    };
    let payout_id = match outcome {
        Outcome::Paid => Some(pay(tx, key, period, balance).await?),
        _ => None,
    };
    tx.execute(
        "INSERT INTO payout_run_lines (tenant_id, run_id, partner_id, currency, releasable, \
         paid_before, balance, outcome, payout_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &key.tenant_id,
            &key.run_id,
            &key.partner_id,
            &key.currency.code(),
            &releasable,
            &paid_before,
            &balance,
            &outcome_text(outcome),
            &payout_id,
        ],
    )
    .await?;
    Ok(PayoutLine {
        partner_id: key.partner_id,
        currency: key.currency.code().to_string(),
        releasable,
        paid_before,
        balance,
        outcome,
        paid: payout_id.map(|_| balance),
        payout_id,
    })
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Paid => "paid",
        Outcome::CarriedForward => "carried_forward",
        Outcome::BelowMinimum => "below_minimum",
        Outcome::AlreadyPaid => "already_paid",
    }
}

/// Sums the partner's releasable share over its invoices up to the run date.
async fn releasable(tx: &Transaction<'_>, key: &Key, delay_days: i32) -> Result<Decimal, Error> {
    let rows = tx
        .query(
            include_str!("sale_funds.sql"),
            &[&key.tenant_id, &key.partner_id, &key.currency.code(), &key.as_of, &delay_days],
        )
        .await?;
    let mut total = Decimal::ZERO;
    total.rescale(key.currency.minor_units());
    for row in rows {
        let funds = SaleFunds {
            total: row.get(0),
            partner_share: row.get(1),
            credited_total: row.get(2),
            credited_partner_cost: row.get(3),
            cleared: row.get(4),
        };
        total += funds.releasable(key.currency);
    }
    Ok(total)
}

async fn paid_before(client: &impl GenericClient, key: &Key) -> Result<Decimal, Error> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(amount), 0) FROM payouts \
             WHERE tenant_id = $1 AND partner_id = $2 AND currency = $3",
            &[&key.tenant_id, &key.partner_id, &key.currency.code()],
        )
        .await?;
    let mut paid: Decimal = row.get(0);
    paid.rescale(key.currency.minor_units());
    Ok(paid)
}

async fn pay(
    tx: &Transaction<'_>,
    key: &Key,
    period: &str,
    amount: Decimal,
) -> Result<Uuid, Error> {
    let payable = accounts::contract_account(
        tx,
        key.tenant_id,
        key.partner_id,
        key.currency,
        Purpose::Payable,
    )
    .await?;
    let cash =
        accounts::platform_account(tx, key.tenant_id, &PlatformAccount::CashClearing, key.currency)
            .await?;
    let mut draft = Draft::new(key.currency);
    draft.debit(&payable, amount, format!("payout {period}"));
    draft.credit(&cash, amount, format!("payout {period}"));
    let id = Uuid::now_v7();
    let description = format!("Payout {period} to partner {}", key.partner_id);
    let entry_id =
        posting::post(tx, key.tenant_id, key.as_of, description, format!("payout:{id}"), draft)
            .await
            .map_err(posting::request_fields("as_of", None))?;
    tx.execute(
        "INSERT INTO payouts (tenant_id, id, run_id, partner_id, currency, period, paid_on, \
         amount, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &key.tenant_id,
            &id,
            &key.run_id,
            &key.partner_id,
            &key.currency.code(),
            &period,
            &key.as_of,
            &amount,
            &entry_id,
        ],
    )
    .await?;
    Ok(id)
}
