//! The demo's closing reports, read from the `audit` views as the auditor role sees them.

use anyhow::{bail, Context};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::table::Table;

/// A report: a titled query over the auditor views.
struct Report {
    title: &'static str,
    sql: &'static str,
}

/// Reports shown after the month is posted, in order.
const REPORTS: &[Report] = &[
    Report {
        title: "Trial balance: every account with a balance, per currency",
        sql: "SELECT * FROM audit.trial_balance",
    },
    Report {
        title: "Trial balance totals per currency (each nets to zero)",
        sql: "SELECT currency, sum(balance) AS total FROM audit.trial_balance GROUP BY currency ORDER BY currency",
    },
    Report {
        title: "Tax liability by jurisdiction and by who owes it",
        sql: "SELECT * FROM audit.tax_liability",
    },
    Report {
        title: "Top partner statements by sales",
        sql: "SELECT * FROM audit.partner_statement ORDER BY sales DESC LIMIT 10",
    },
    Report {
        title: "Customer aging (days past due)",
        sql: "SELECT * FROM audit.aging",
    },
];

/// Views that list broken invariants; each must be empty.
pub const INTEGRITY_VIEWS: &[&str] = &["audit.balance_check", "audit.unbalanced_entries"];

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
        out.push_str("Integrity views (each must have no rows)\n");
        for table in &self.integrity {
            out.push_str(&table.render());
        }
        out
    }

    /// Names the integrity views that returned rows.
    pub fn broken_invariants(&self) -> Vec<&str> {
        self.integrity.iter().filter(|t| !t.rows.is_empty()).map(|t| t.title.as_str()).collect()
    }
}

/// Reads every report over a new connection to `url` that acts as `subledger_auditor`, so the
/// reports show exactly what an auditor may read.
pub async fn collect(url: &str) -> anyhow::Result<Reports> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.context("cannot connect for the reports")?;
    let task = tokio::spawn(connection);
    client
        .batch_execute("SET ROLE subledger_auditor")
        .await
        .context("cannot act as subledger_auditor")?;
    let mut tables = Vec::new();
    for report in REPORTS {
        tables.push(query(&client, report.title, report.sql).await?);
    }
    let mut integrity = Vec::new();
    for view in INTEGRITY_VIEWS {
        integrity.push(query(&client, view, &format!("SELECT * FROM {view}")).await?);
    }
    drop(client);
    task.await.context("report connection task failed")?.context("report connection failed")?;
    Ok(Reports { tables, integrity })
}

/// Runs `sql` and keeps every column whose values are not UUIDs: ids differ between runs and
/// say nothing to a reader.
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
