//! The demo's closing reports, read from the `audit` views with the auditor role's rights.

use anyhow::{bail, Context};
use chrono::NaiveDate;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use uuid::Uuid;

use super::table::Table;

/// A report: a titled query over the auditor views of one tenant, as of one day.
struct Report {
    title: &'static str,
    sql: fn(&Scope) -> String,
}

/// Whose books and which day the reports read.
pub struct Scope {
    pub tenant_id: Uuid,
    pub as_of: NaiveDate,
}

impl Scope {
    /// Formats the month of `as_of` as `YYYY-MM`, the period of the statement views.
    fn period(&self) -> String {
        self.as_of.format("%Y-%m").to_string()
    }
}

/// Reports shown after the month is posted, in order.
const REPORTS: &[Report] = &[
    Report {
        title: "Trial balance by account group and currency",
        sql: |scope| {
            format!(
                "SELECT currency, regexp_replace(account_code, '[:.].*$', '') AS account_group, \
                 count(*) AS accounts, sum(debit) AS debit, sum(credit) AS credit \
                 FROM audit.trial_balance WHERE tenant_id = '{}' \
                 GROUP BY 1, 2 HAVING sum(debit) <> 0 OR sum(credit) <> 0 ORDER BY 1, 2",
                scope.tenant_id
            )
        },
    },
    Report {
        title: "Trial balance totals per currency (debit equals credit)",
        sql: |scope| {
            format!(
                "SELECT currency, total_debit, total_credit, total_debit - total_credit AS difference \
                 FROM audit.trial_balance_totals WHERE tenant_id = '{}' \
                 AND (total_debit <> 0 OR total_credit <> 0) ORDER BY currency",
                scope.tenant_id
            )
        },
    },
    Report {
        title: "Tax liability by who owes it",
        sql: |scope| {
            format!(
                "SELECT liable AS owed_by, kind, currency, sum(invoices) AS invoices, \
                 sum(base) AS base, sum(tax) AS tax FROM audit.tax_liability \
                 WHERE tenant_id = '{}' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                scope.tenant_id
            )
        },
    },
    Report {
        title: "Tax liability by jurisdiction",
        sql: |scope| {
            format!(
                "SELECT jurisdiction, currency, kind, liable AS owed_by, invoices, base, tax \
                 FROM audit.tax_liability WHERE tenant_id = '{}' AND tax <> 0 \
                 ORDER BY jurisdiction, currency, kind, liable",
                scope.tenant_id
            )
        },
    },
    Report {
        title: "Top partner statements of the month (by number of sales)",
        sql: |scope| {
            format!(
                "SELECT p.name AS partner, p.country, s.currency, s.sales_count AS sales, \
                 s.sales_total, s.refunds_total AS refunds, s.commission, \
                 s.commission_tax, s.payouts, s.balance \
                 FROM audit.partner_statement s JOIN audit.parties p \
                 ON p.tenant_id = s.tenant_id AND p.party_id = s.partner_id \
                 WHERE s.tenant_id = '{}' AND s.period = '{}' \
                 ORDER BY s.sales_count DESC, p.name, s.currency LIMIT 10",
                scope.tenant_id,
                scope.period()
            )
        },
    },
    Report {
        title: "Month-end payouts per currency",
        sql: |scope| {
            format!(
                "SELECT currency, count(*) FILTER (WHERE payouts > 0) AS partners_paid, \
                 sum(payouts) AS paid_out, count(*) FILTER (WHERE balance > 0) AS partners_waiting, \
                 count(*) FILTER (WHERE balance < 0) AS partners_owing, sum(balance) AS balance_left \
                 FROM audit.partner_statement WHERE tenant_id = '{}' AND period = '{}' \
                 GROUP BY currency ORDER BY currency",
                scope.tenant_id,
                scope.period()
            )
        },
    },
    Report {
        title: "Customer aging per currency",
        sql: |scope| {
            format!(
                "SELECT currency, count(*) AS customers, sum(not_due) AS not_due, \
                 sum(days_0_30) AS days_0_30, sum(days_31_60) AS days_31_60, \
                 sum(days_61_90) AS days_61_90, sum(days_over_90) AS days_over_90, \
                 sum(total) AS total FROM audit.aging_at('{}', '{}') \
                 GROUP BY currency ORDER BY currency",
                scope.tenant_id, scope.as_of
            )
        },
    },
];

/// Integrity checks: each lists broken invariants and must return no rows.
const INTEGRITY_CHECKS: &[Report] = &[
    Report {
        title: "audit.balance_check",
        sql: |scope| {
            format!("SELECT * FROM audit.balance_check WHERE tenant_id = '{}'", scope.tenant_id)
        },
    },
    Report {
        title: "audit.unbalanced_entries",
        sql: |scope| {
            format!(
                "SELECT * FROM audit.unbalanced_entries WHERE tenant_id = '{}'",
                scope.tenant_id
            )
        },
    },
    Report {
        title: "audit.trial_balance_totals where debit differs from credit",
        sql: |scope| {
            format!(
                "SELECT * FROM audit.trial_balance_totals WHERE tenant_id = '{}' \
                 AND total_debit <> total_credit",
                scope.tenant_id
            )
        },
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
        tables.push(query(&client, report.title, &(report.sql)(scope)).await?);
    }
    let mut integrity = Vec::new();
    for check in INTEGRITY_CHECKS {
        integrity.push(query(&client, check.title, &(check.sql)(scope)).await?);
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
