//! The auditor's queries of `sql/` and the tax liability as of a date, read with the auditor
//! role's rights.

use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::Decimal;
use serde_json::json;
use tokio_postgres::NoTls;

use crate::billing_support::{agreement, invoice_body, Books};

/// Rows of `audit.tax_liability_at` for the tenant on `as_of`, read as the auditor, sorted.
async fn liability_at(books: &Books, as_of: &str) -> Vec<(String, String, String, i32, Decimal)> {
    let (mut client, connection) =
        tokio_postgres::connect(&books.app.db.url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("SET LOCAL ROLE subledger_auditor").await.unwrap();
    let rows = tx
        .query(
            "SELECT jurisdiction, kind, liable, invoices, tax \
             FROM audit.tax_liability_at($1, $2::text::date) ORDER BY 1, 2, 3",
            &[&books.app.tenant_id, &as_of],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))).collect()
}

/// Runs `select` over the rows of the test's tenant and returns its one amount.
async fn tenant_amount(books: &Books, select: &str) -> Decimal {
    let sql = format!("{select} WHERE tenant_id = $1");
    let client = books.app.sql().await;
    client.query_one(&sql, &[&books.app.tenant_id]).await.unwrap().get(0)
}

fn total(rows: &[(String, String, String, i32, Decimal)]) -> Decimal {
    rows.iter().map(|row| row.4).sum()
}

/// The tax liability counts the invoices and credit notes issued by the requested day, and
/// on a day after every document it equals `audit.tax_liability`.
#[tokio::test]
async fn tax_liability_as_of_a_date() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("IT").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00", "50.00"]);
    let invoice = books.create("/v1/invoices", &body).await;
    let credit = json!({
        "invoice_id": invoice["id"],
        "issued_at": "2026-10-20T10:00:00Z",
        "lines": [{ "line_no": 1 }],
    });
    books.create("/v1/credit-notes", &credit).await;

    let charged = tenant_amount(&books, "SELECT sum(amount) FROM invoice_taxes").await;
    let credited =
        tenant_amount(&books, "SELECT sum(tax + commission_tax) FROM credit_notes").await;
    assert!(charged > Decimal::ZERO, "{charged}");
    assert!(credited > Decimal::ZERO, "{credited}");

    assert!(liability_at(&books, "2026-10-04").await.is_empty(), "nothing issued yet");
    let issued = liability_at(&books, "2026-10-19").await;
    let kinds: Vec<&str> = issued.iter().map(|row| row.1.as_str()).collect();
    assert_eq!(kinds, ["commission", "sale"], "{issued:?}");
    assert!(issued.iter().all(|row| row.3 == 1), "{issued:?}");
    assert_eq!(total(&issued), charged);
    let after_credit = liability_at(&books, "2026-10-20").await;
    assert_eq!(total(&after_credit), charged - credited);

    let client = books.app.sql().await;
    let today: Vec<(String, String, String, i32, Decimal)> = client
        .query(
            "SELECT jurisdiction, kind, liable, invoices, tax FROM audit.tax_liability \
             WHERE tenant_id = $1 ORDER BY 1, 2, 3",
            &[&books.app.tenant_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect();
    assert_eq!(liability_at(&books, "2100-01-01").await, today);

    // A credit note stored before its detail named each tax's `seq` is matched by kind,
    // jurisdiction and rate.
    let updated = client
        .execute(
            "UPDATE credit_notes SET detail = jsonb_set(detail, '{taxes}', \
             (SELECT jsonb_agg(e.tax - 'seq') FROM jsonb_array_elements(detail -> 'taxes') AS e (tax))) \
             WHERE tenant_id = $1",
            &[&books.app.tenant_id],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1);
    assert_eq!(liability_at(&books, "2026-10-20").await, after_credit);
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("sql directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(sql_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "sql") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every query of `sql/` runs in psql as the auditor, with the variables the README names.
#[tokio::test]
async fn auditor_queries_run_in_psql() {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("IT").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["100.00"]);
    books.create("/v1/invoices", &body).await;

    let files = sql_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"));
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let output = Command::new("psql")
            .arg(&books.app.db.url)
            .args(["-X", "-q", "-A", "-v", "ON_ERROR_STOP=1"])
            .arg("-v")
            .arg(format!("tenant={}", books.app.tenant_id))
            .args(["-v", "as_of=2026-10-31", "-c", "SET ROLE subledger_auditor", "-f"])
            .arg(&file)
            .output()
            .expect("psql runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", file.display());
        assert!(stderr.is_empty(), "{}: {stderr}", file.display());
        // The first line names the columns, the last counts the rows: "(N rows)".
        let footer = stdout.lines().last().unwrap_or_default();
        let rows: usize = footer
            .strip_prefix('(')
            .and_then(|rest| rest.split(' ').next())
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("{}: no row count in {stdout:?}", file.display()));
        let is_check = file.parent().is_some_and(|dir| dir.ends_with("checks"));
        assert_eq!(rows == 0, is_check, "{}: {stdout}", file.display());
    }
}
