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
    /// Puts the scope into one statement of `sql/` as psql does with `-v tenant=...` and
    /// `-v as_of=...`: `:'tenant'` and `:'as_of'` become quoted literals, except inside
    /// comments, string literals and quoted names. Both values are typed (a UUID and a
    /// date), so their text cannot leave the quotes. The demo sends the result to the server
    /// as it is, so any other variable, a psql meta-command or a second statement is an
    /// error. Dollar quotes, `E''` strings and nested comments are not recognised; the files
    /// of `sql/` use none of them.
    fn bind(&self, sql: &str) -> anyhow::Result<String> {
        let mut bound = String::with_capacity(sql.len() + 64);
        let mut rest = sql;
        let mut ended = false;
        while let Some(next) = rest.chars().next() {
            let len = match next {
                '-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
                '/' if rest.starts_with("/*") => rest.find("*/").map_or(rest.len(), |at| at + 2),
                _ if ended && !next.is_whitespace() => {
                    bail!("a report contains a second statement; each file must contain one")
                }
                '\'' | '"' => quoted_len(rest, next),
                ':' if rest.starts_with("::") => 2,
                ':' => match variable(rest) {
                    Some((name, len)) => {
                        let value = match name {
                            ":'tenant'" => self.tenant_id.to_string(),
                            ":'as_of'" => self.as_of.to_string(),
                            _ => {
                                bail!("a report reads {name}; only :'tenant' and :'as_of' are set")
                            }
                        };
                        bound.push('\'');
                        bound.push_str(&value);
                        bound.push('\'');
                        rest = &rest[len..];
                        continue;
                    }
                    None => 1,
                },
                '\\' => bail!("a report contains a psql meta-command: {}", first_line(rest)),
                ';' => {
                    ended = true;
                    1
                }
                _ => next.len_utf8(),
            };
            bound.push_str(&rest[..len]);
            rest = &rest[len..];
        }
        Ok(bound)
    }
}

/// Returns the length of the literal or quoted name that starts `text` with `quote`, where a
/// doubled quote stands for one. Returns the whole length when the quote is not closed.
fn quoted_len(text: &str, quote: char) -> usize {
    let mut at = 1;
    while let Some(offset) = text[at..].find(quote) {
        at += offset + 1;
        if !text[at..].starts_with(quote) {
            return at;
        }
        at += 1;
    }
    text.len()
}

/// Returns the psql variable that starts `text` (`:name`, `:'name'` or `:"name"`) with its
/// length, or `None` when the colon starts no variable.
fn variable(text: &str) -> Option<(&str, usize)> {
    let quote = text[1..].chars().next().filter(|c| *c == '\'' || *c == '"');
    let start = 1 + quote.map_or(0, char::len_utf8);
    let name_len = text[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len() - start);
    if name_len == 0 || text[start..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut len = start + name_len;
    if let Some(quote) = quote {
        if !text[len..].starts_with(quote) {
            return None;
        }
        len += 1;
    }
    Some((&text[..len], len))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
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
    Report {
        title: "audit.orphan_document_rows",
        sql: include_str!("../../sql/checks/orphan_document_rows.sql"),
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

    const TENANT: &str = "01a2452f-e524-7557-9100-7c8194b269c6";

    fn scope() -> Scope {
        Scope {
            tenant_id: Uuid::parse_str(TENANT).unwrap(),
            as_of: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        }
    }

    #[test]
    fn bind_skips_comments_and_literals() {
        let sql = "-- as of :'as_of'\nSELECT ':''x', \"a:'b'\", :'as_of'::date, f(:'tenant');";
        assert_eq!(
            scope().bind(sql).unwrap(),
            format!(
                "-- as of :'as_of'\nSELECT ':''x', \"a:'b'\", '2026-11-30'::date, f('{TENANT}');"
            )
        );
    }

    #[test]
    fn bind_rejects_unbound_forms() {
        let error = |sql: &str| scope().bind(sql).unwrap_err().to_string();
        assert!(error("SELECT :'period'").contains(":'period'"));
        assert!(error("SELECT :period").contains(":period"));
        assert!(error("SELECT :\"tenant\"").contains(":\"tenant\""));
        assert!(error("SELECT 1;\nSELECT 2;").contains("second statement"));
        assert!(error("\\x on\nSELECT 1;").contains("\\x on"));
        assert_eq!(scope().bind("SELECT 1; -- done\n").unwrap(), "SELECT 1; -- done\n");
    }

    #[test]
    fn every_report_reads_its_scope() {
        for report in REPORTS.iter().chain(INTEGRITY_CHECKS) {
            let bound = scope().bind(report.sql).unwrap();
            assert!(bound.contains(&format!("'{TENANT}'")), "{}", report.title);
        }
        for report in REPORTS {
            let bound = scope().bind(report.sql).unwrap();
            assert!(bound.contains("'2026-11-30'"), "{}", report.title);
        }
    }
}
