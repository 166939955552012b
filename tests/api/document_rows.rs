//! The lines and taxes of stored documents as Postgres enforces them against raw SQL: a row
//! belongs to an existing invoice or tax determination, and a document keeps the rows that
//! name it.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::billing_support::{agreement, invoice_body, Books};

/// The tables whose rows name a document: table, column naming the document, key column.
const ROWS: [(&str, &str, &str); 3] = [
    ("invoice_lines", "invoice_id", "line_no"),
    ("invoice_taxes", "invoice_id", "seq"),
    ("tax_determination_lines", "determination_id", "position"),
];

/// Books with one posted invoice, which stores lines, taxes and determination lines.
async fn books_with_invoice() -> Books {
    let books = Books::open("FR", Some("FR40303265045")).await;
    let partner = books.partner("FR", None, agreement("agent", "0.10", "refunded")).await;
    let customer = books.customer("BE").await;
    let body = invoice_body(&customer, &partner, "2026-10-05T10:00:00Z", &["10.00", "5.00"]);
    books.create("/v1/invoices", &body).await;
    books
}

/// Inserts a copy of one row of `table` with `set` applied, in transaction `client`.
async fn insert_copy(
    client: &tokio_postgres::Transaction<'_>,
    table: &str,
    set: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE copied ON COMMIT DROP AS SELECT * FROM {table} LIMIT 1; \
             UPDATE copied SET {set}; \
             INSERT INTO {table} SELECT * FROM copied"
        ))
        .await
}

fn is_foreign_key_violation(result: &Result<impl std::fmt::Debug, tokio_postgres::Error>) -> bool {
    matches!(result, Err(err) if err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION))
}

#[tokio::test]
async fn rows_need_an_existing_document() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    for (table, document, key) in ROWS {
        let tx = client.transaction().await.unwrap();
        insert_copy(&tx, table, &format!("{key} = {key} + 100")).await.unwrap();
        drop(tx);

        let tx = client.transaction().await.unwrap();
        let orphan = insert_copy(&tx, table, &format!("{document} = '{}'", Uuid::new_v4())).await;
        assert!(is_foreign_key_violation(&orphan), "{table} insert: {orphan:?}");
        drop(tx);

        let tx = client.transaction().await.unwrap();
        let moved = tx
            .execute(
                &format!(
                    "UPDATE {table} SET {document} = $1 WHERE ({document}, {key}) = \
                     (SELECT {document}, {key} FROM {table} LIMIT 1)"
                ),
                &[&Uuid::new_v4()],
            )
            .await;
        assert!(is_foreign_key_violation(&moved), "{table} update: {moved:?}");
    }
}

#[tokio::test]
async fn documents_keep_the_rows_that_name_them() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let changes = [
        "DELETE FROM invoices",
        "UPDATE invoices SET id = gen_random_uuid()",
        "DELETE FROM tax_determinations",
        "UPDATE tax_determinations SET id = gen_random_uuid()",
        "TRUNCATE tax_determinations",
    ];
    for change in changes {
        let tx = client.transaction().await.unwrap();
        let result = tx.batch_execute(change).await;
        assert!(is_foreign_key_violation(&result), "{change}: {result:?}");
    }
    // Truncating the determinations with their lines succeeds.
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("TRUNCATE tax_determinations, tax_determination_lines").await.unwrap();
}

/// A delete that waits for a transaction adding rows under the same document fails once that
/// transaction commits.
#[tokio::test]
async fn delete_waits_for_rows_being_added() {
    let books = books_with_invoice().await;
    let mut adding = books.app.sql().await;
    let deleting = books.app.sql().await;

    // A determination without lines, which may be deleted until a line names it.
    let empty = Uuid::new_v4();
    let tx = adding.transaction().await.unwrap();
    insert_copy(&tx, "tax_determinations", &format!("id = '{empty}', document_id = '{empty}'"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let tx = adding.transaction().await.unwrap();
    insert_copy(&tx, "tax_determination_lines", &format!("determination_id = '{empty}'"))
        .await
        .unwrap();
    let pid: i32 = deleting.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let delete = tokio::spawn(async move {
        deleting.execute("DELETE FROM tax_determinations WHERE id = $1", &[&empty]).await
    });

    let watcher = books.app.sql().await;
    let mut waiting = false;
    for _ in 0..200 {
        let row = watcher
            .query_one(
                "SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' \
                 FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap();
        waiting = row.get(0);
        if waiting || delete.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the delete did not wait for the transaction adding a line");
    tx.commit().await.unwrap();
    let deleted = delete.await.unwrap();
    assert!(is_foreign_key_violation(&deleted), "{deleted:?}");
}
