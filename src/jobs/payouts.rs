//! The payout job: one payout run per tenant, each in its own transaction.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::billing::payout_run::{self, NewPayoutRun, PayoutRun};
use crate::error::Error;

/// Runs payouts as of `as_of` for `tenant`, or for every tenant, and returns each run.
/// A run that overlaps another (from the API or a second job) pays nothing twice.
pub async fn run(
    pool: &deadpool_postgres::Pool,
    as_of: NaiveDate,
    tenant: Option<Uuid>,
) -> Result<Vec<(Uuid, PayoutRun)>, Error> {
    let mut client = pool.get().await?;
    let tenants: Vec<Uuid> = match tenant {
        Some(id) => vec![id],
        None => {
            let rows = client.query("SELECT id FROM tenants ORDER BY id", &[]).await?;
            rows.iter().map(|row| row.get(0)).collect()
        }
    };
    let today = chrono::Utc::now().date_naive();
    let mut runs = Vec::with_capacity(tenants.len());
    for tenant_id in tenants {
        let tx = client.transaction().await?;
        let run = payout_run::run(&tx, tenant_id, NewPayoutRun { as_of }, today).await?;
        tx.commit().await?;
        tracing::info!(
            tenant.id = %tenant_id,
            run.id = %run.id,
            partners = run.lines.len(),
            "payout run finished"
        );
        runs.push((tenant_id, run));
    }
    Ok(runs)
}
