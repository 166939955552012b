//! The demo's closing reports, read from the `audit` views with the auditor role's rights.

use anyhow::{bail, Context};
use chrono::NaiveDate;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use uuid::Uuid;

use super::table::Table;

/// A report: a titled query of `sql/` over the auditor views of one tenant, as of one day.
struct Report {
    title: &'static str,
    sql: &'static str,
}

/// Whose books and which day the reports read.
pub struct Scope {
    pub tenant_id: Uuid,
    pub as_of: NaiveDate,
}

impl Scope {
    /// Puts the scope into `sql` where psql would put the variables `tenant` and `as_of`,
    /// written `:'tenant'` and `:'as_of'`. Both values are typed (a UUID and a date), so
    /// their text cannot leave the quotes.
    fn bind(&self, sql: &str) -> anyhow::Result<String> {
        let bound = sql
            .replace(":'tenant'", &format!("'{}'", self.tenant_id))
            .replace(":'as_of'", &format!("'{}'", self.as_of));
        if let Some(at) = bound.find(":'") {
            let name: String = bound[at..].chars().take(24).collect();
            bail!("a report reads a variable other than tenant and as_of: {name}");
        }
        Ok(bound)
    }
}

/// Reports shown after the month is posted, in order.
const REPORTS: &[Report] = &[
    Report {
        title: "Trial balance by account group and currency",
        sql: include_str!("../../sql/trial_balance_by_group.sql"),
    },
    Report {
        title: "Trial balance totals per currency (debit equals credit)",
        sql: include_str!("../../sql/trial_balance_totals.sql"),
    },
    Report {
        title: "Tax liability by who owes it",
        sql: include_str!("../../sql/tax_liability_by_owner.sql"),
    },
    Report {
        title: "Tax liability by jurisdiction",
        sql: include_str!("../../sql/tax_liability_by_jurisdiction.sql"),
    },
    Report {
        title: "Top partner statements of the month (by number of sales)",
        sql: include_str!("../../sql/top_partner_statements.sql"),
    },
    Report {
        title: "Month-end payouts per currency",
        sql: include_str!("../../sql/payouts_by_currency.sql"),
    },
    Report {
        title: "Customer aging per currency",
        sql: include_str!("../../sql/aging_by_currency.sql"),
    },
];

/// Integrity checks: each lists broken invariants and must return no rows.
const INTEGRITY_CHECKS: &[Report] = &[
    Report {
        title: "audit.balance_check",
        sql: include_str!("../../sql/checks/balance_check.sql"),
    },
    Report {
        title: "audit.unbalanced_entries",
        sql: include_str!("../../sql/checks/unbalanced_entries.sql"),
    },
    Report {
        title: "audit.trial_balance_totals where debit differs from credit",
        sql: include_str!("../../sql/checks/trial_balance_unequal.sql"),
    },
];

/// The reports of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Reports {
    pub tables: Vec<Table>,
    pub integrity: Vec<Table>,
}

impl Reports {
    /// Renders every report, integrity views last.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&table.render());
            out.push('\n');
        }
        out.push_str("Integrity checks (each must have no rows)\n");
        for table in &self.integrity {
            out.push_str(&table.render());
        }
        out
    }

    /// Names the integrity checks that returned rows.
    pub fn broken_invariants(&self) -> Vec<&str> {
        self.integrity.iter().filter(|t| !t.rows.is_empty()).map(|t| t.title.as_str()).collect()
    }
}

/// Reads every report over a new connection to `url` that acts as `subledger_auditor`, so the
/// reports show exactly what an auditor may read.
pub async fn collect(url: &str, scope: &Scope) -> anyhow::Result<Reports> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.context("cannot connect for the reports")?;
    let task = tokio::spawn(connection);
    client
        .batch_execute("SET ROLE subledger_auditor")
        .await
        .context("cannot act as subledger_auditor")?;
    let mut tables = Vec::new();
    for report in REPORTS {
        tables.push(query(&client, report.title, &scope.bind(report.sql)?).await?);
    }
    let mut integrity = Vec::new();
    for check in INTEGRITY_CHECKS {
        integrity.push(query(&client, check.title, &scope.bind(check.sql)?).await?);
    }
    drop(client);
    task.await.context("report connection task failed")?.context("report connection failed")?;
    Ok(Reports { tables, integrity })
}

/// Runs `sql` and keeps every column whose values are not UUIDs, because ids differ between
/// runs and mean nothing to a reader.
async fn query(client: &Client, title: &str, sql: &str) -> anyhow::Result<Table> {
    let messages = match client.simple_query(sql).await {
        Ok(messages) => messages,
        Err(err) => bail!("report \"{title}\" failed: {sql}: {}", db_message(&err)),
    };
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(description) => {
                columns = description.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("").to_string()).collect());
            }
            _ => {}
        }
    }
    let keep: Vec<usize> = (0..columns.len())
        .filter(|&i| !rows.iter().any(|row| uuid::Uuid::parse_str(&row[i]).is_ok()))
        .collect();
    Ok(Table {
        title: title.to_string(),
        columns: keep.iter().map(|&i| columns[i].clone()).collect(),
        rows: rows.into_iter().map(|row| keep.iter().map(|&i| row[i].clone()).collect()).collect(),
    })
}

fn db_message(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            tenant_id: Uuid::parse_str("01a2452f-e524-7557-9100-7c8194b269c6").unwrap(),
            as_of: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        }
    }

    #[test]
    fn bind_quotes_tenant_and_date() {
        let sql = "SELECT * FROM audit.aging_at(:'tenant', :'as_of') -- as of :as_of";
        assert_eq!(
            scope().bind(sql).unwrap(),
            "SELECT * FROM audit.aging_at('01a2452f-e524-7557-9100-7c8194b269c6', \
             '2026-11-30') -- as of :as_of"
        );
    }

    #[test]
    fn bind_rejects_other_variables() {
        let err = scope().bind("SELECT :'period'").unwrap_err();
        assert!(err.to_string().contains(":'period'"), "{err}");
    }

    #[test]
    fn every_report_reads_only_known_variables() {
        for report in REPORTS.iter().chain(INTEGRITY_CHECKS) {
            let bound = scope().bind(report.sql).unwrap();
            assert!(bound.contains("'01a2452f-e524-7557-9100-7c8194b269c6'"), "{}", report.title);
        }
    }
}
