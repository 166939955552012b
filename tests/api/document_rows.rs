//! The lines and taxes of stored documents as Postgres enforces them against raw SQL: a row
//! belongs to an existing invoice or tax determination, and a document keeps the rows that
//! name it. The same holds for the tenant of journal entries, tax determinations and
//! idempotency records, and for the parties of invoices.

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

/// Inserts a copy of one row of `table` with `set` applied, in transaction `tx`.
async fn insert_copy(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    set: &str,
) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE copied ON COMMIT DROP AS SELECT * FROM {table} LIMIT 1; \
             UPDATE copied SET {set}; \
             INSERT INTO {table} SELECT * FROM copied"
    ))
    .await
}

/// Returns whether `result` failed with SQLSTATE `code` and a message that names `table`.
fn failed_with(
    result: &Result<impl std::fmt::Debug, tokio_postgres::Error>,
    code: &SqlState,
    table: &str,
) -> bool {
    let Err(err) = result else {
        return false;
    };
    let message = err.as_db_error().map(|db| db.message()).unwrap_or_default();
    err.code() == Some(code) && message.starts_with(&format!("{table}: "))
}

#[tokio::test]
async fn rows_need_an_existing_document() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    for (table, document, key) in ROWS {
        let tx = client.transaction().await.unwrap();
        insert_copy(&tx, table, &format!("{key} = {key} + 100")).await.unwrap();
        drop(tx);

        // A missing document, then an existing document id under another tenant.
        for set in [
            format!("{document} = '{}'", Uuid::new_v4()),
            format!("tenant_id = '{}'", Uuid::new_v4()),
        ] {
            let tx = client.transaction().await.unwrap();
            let orphan = insert_copy(&tx, table, &set).await;
            assert!(
                failed_with(&orphan, &SqlState::FOREIGN_KEY_VIOLATION, table),
                "{set}: {orphan:?}"
            );
        }
    }
}

#[tokio::test]
async fn rows_stay_with_their_document() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    for (table, document, key) in ROWS {
        let one_row =
            format!("({document}, {key}) = (SELECT {document}, {key} FROM {table} LIMIT 1)");
        let tx = client.transaction().await.unwrap();
        let renumbered = tx
            .execute(&format!("UPDATE {table} SET {key} = {key} + 100 WHERE {one_row}"), &[])
            .await;
        assert_eq!(renumbered.unwrap(), 1, "{table}");
        drop(tx);

        for column in [document, "tenant_id"] {
            let tx = client.transaction().await.unwrap();
            let moved = tx
                .execute(
                    &format!("UPDATE {table} SET {column} = $1 WHERE {one_row}"),
                    &[&Uuid::new_v4()],
                )
                .await;
            assert!(
                failed_with(&moved, &SqlState::RESTRICT_VIOLATION, table),
                "{column}: {moved:?}"
            );
        }
    }
}

#[tokio::test]
async fn documents_keep_the_rows_that_name_them() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let changes = [
        ("DELETE FROM invoices", SqlState::FOREIGN_KEY_VIOLATION, "invoices"),
        ("UPDATE invoices SET id = gen_random_uuid()", SqlState::FOREIGN_KEY_VIOLATION, "invoices"),
        ("DELETE FROM tax_determinations", SqlState::FOREIGN_KEY_VIOLATION, "tax_determinations"),
        (
            "UPDATE tax_determinations SET id = gen_random_uuid()",
            SqlState::FOREIGN_KEY_VIOLATION,
            "tax_determinations",
        ),
        ("TRUNCATE tax_determinations", SqlState::RESTRICT_VIOLATION, "tax_determinations"),
        (
            "TRUNCATE tax_determinations, tax_determination_lines",
            SqlState::RESTRICT_VIOLATION,
            "tax_determinations",
        ),
        (
            "TRUNCATE invoices, invoice_lines, invoice_taxes CASCADE",
            SqlState::RESTRICT_VIOLATION,
            "invoices",
        ),
    ];
    for (change, code, table) in changes {
        let tx = client.transaction().await.unwrap();
        let result = tx.batch_execute(change).await;
        assert!(failed_with(&result, &code, table), "{change}: {result:?}");
    }
}

/// Inserts a tax determination without lines, as a copy of a stored one, and commits it.
async fn empty_determination(client: &mut deadpool_postgres::Object) -> Uuid {
    let empty = Uuid::new_v4();
    let tx = client.transaction().await.unwrap();
    insert_copy(&tx, "tax_determinations", &format!("id = '{empty}', document_id = '{empty}'"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    empty
}

/// A document without rows can be deleted.
#[tokio::test]
async fn empty_document_is_deleted() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let empty = empty_determination(&mut client).await;
    let delete = "DELETE FROM tax_determinations WHERE id = $1";

    let tx = client.transaction().await.unwrap();
    assert_eq!(tx.execute(delete, &[&empty]).await.unwrap(), 1);
}

/// Deleting or re-keying a document fails outside READ COMMITTED, rows or not.
#[tokio::test]
async fn document_changes_need_read_committed() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let empty = empty_determination(&mut client).await;
    let changes = [
        ("DELETE FROM invoices".to_string(), "invoices"),
        ("UPDATE invoices SET id = gen_random_uuid()".to_string(), "invoices"),
        (format!("DELETE FROM tax_determinations WHERE id = '{empty}'"), "tax_determinations"),
        ("UPDATE tax_determinations SET id = gen_random_uuid()".to_string(), "tax_determinations"),
    ];
    for isolation in ["REPEATABLE READ", "SERIALIZABLE"] {
        for (change, table) in &changes {
            let tx = client.transaction().await.unwrap();
            tx.batch_execute(&format!("SET TRANSACTION ISOLATION LEVEL {isolation}"))
                .await
                .unwrap();
            let result = tx.batch_execute(change).await;
            assert!(
                failed_with(&result, &SqlState::FEATURE_NOT_SUPPORTED, table),
                "{isolation}, {change}: {result:?}"
            );
        }
    }
}

/// Polls for up to 10 s until backend `pid` waits for a lock, or `task` finishes, and returns
/// whether the backend waited.
async fn waits_for_lock<T>(books: &Books, pid: i32, task: &tokio::task::JoinHandle<T>) -> bool {
    let watcher = books.app.sql().await;
    for _ in 0..200 {
        let row = watcher
            .query_one(
                "SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' \
                 FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap();
        if row.get(0) {
            return true;
        }
        if task.is_finished() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A delete that waits for a transaction adding rows under the same document fails once that
/// transaction commits.
#[tokio::test]
async fn delete_waits_for_rows_being_added() {
    let books = books_with_invoice().await;
    let mut adding = books.app.sql().await;
    let deleting = books.app.sql().await;
    let empty = empty_determination(&mut adding).await;

    let tx = adding.transaction().await.unwrap();
    insert_copy(&tx, "tax_determination_lines", &format!("determination_id = '{empty}'"))
        .await
        .unwrap();
    let pid: i32 = deleting.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let delete = tokio::spawn(async move {
        deleting.execute("DELETE FROM tax_determinations WHERE id = $1", &[&empty]).await
    });

    let waiting = waits_for_lock(&books, pid, &delete).await;
    assert!(
        waiting,
        "the delete did not wait for the transaction adding a line (finished: {})",
        delete.is_finished()
    );
    tx.commit().await.unwrap();
    let deleted = delete.await.unwrap();
    assert!(
        failed_with(&deleted, &SqlState::FOREIGN_KEY_VIOLATION, "tax_determinations"),
        "{deleted:?}"
    );
}

/// With the insert triggers disabled, the audit view lists the rows left without a document.
#[tokio::test]
async fn audit_view_lists_orphan_rows() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let tx = client.transaction().await.unwrap();
    let view = "SELECT table_name, row_count FROM audit.orphan_document_rows";
    assert!(tx.query(view, &[]).await.unwrap().is_empty());

    for (table, document, _) in ROWS {
        tx.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await.unwrap();
        insert_copy(&tx, table, &format!("{document} = '{}'", Uuid::new_v4())).await.unwrap();
        tx.batch_execute("DROP TABLE copied").await.unwrap();
    }
    let rows = tx.query(&format!("{view} ORDER BY table_name"), &[]).await.unwrap();
    let orphans: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let expected: Vec<(String, i64)> =
        ["invoice_lines", "invoice_taxes", "tax_determination_lines"]
            .iter()
            .map(|table| (table.to_string(), 1))
            .collect();
    assert_eq!(orphans, expected);
}

/// A row inserted under a document that another transaction is deleting waits for it, then
/// fails once the delete commits.
#[tokio::test]
async fn insert_waits_for_document_being_deleted() {
    let books = books_with_invoice().await;
    let mut deleting = books.app.sql().await;
    let mut adding = books.app.sql().await;
    let empty = empty_determination(&mut deleting).await;

    let tx = deleting.transaction().await.unwrap();
    let deleted = tx.execute("DELETE FROM tax_determinations WHERE id = $1", &[&empty]).await;
    assert_eq!(deleted.unwrap(), 1);
    let pid: i32 = adding.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let insert = tokio::spawn(async move {
        let tx = adding.transaction().await.unwrap();
        insert_copy(&tx, "tax_determination_lines", &format!("determination_id = '{empty}'")).await
    });

    let waiting = waits_for_lock(&books, pid, &insert).await;
    assert!(
        waiting,
        "the insert did not wait for the transaction deleting its document (finished: {})",
        insert.is_finished()
    );
    tx.commit().await.unwrap();
    let inserted = insert.await.unwrap();
    assert!(
        failed_with(&inserted, &SqlState::FOREIGN_KEY_VIOLATION, "tax_determination_lines"),
        "{inserted:?}"
    );
}

/// Columns that name a row's tenant or an invoice's party, checked per statement: the table,
/// the column, and the other changes a copy needs to stay unique.
const OWNED: [(&str, &str, &str); 7] = [
    ("journal_entries", "tenant_id", "id = gen_random_uuid(), idempotency_key = NULL"),
    ("tax_determinations", "tenant_id", "id = gen_random_uuid(), document_id = id"),
    ("idempotency_keys", "tenant_id", "key = key || '-copy'"),
    ("invoices", "tenant_id", "id = gen_random_uuid(), number = number || '-copy'"),
    ("invoices", "customer_id", "id = gen_random_uuid(), number = number || '-copy'"),
    ("invoices", "seller_id", "id = gen_random_uuid(), number = number || '-copy'"),
    ("invoices", "issuer_id", "id = gen_random_uuid(), number = number || '-copy'"),
];

#[tokio::test]
async fn rows_need_existing_owners() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    for (table, column, unique) in OWNED {
        // The copy alone is accepted, so only the owner set below makes the insert fail.
        let tx = client.transaction().await.unwrap();
        insert_copy(&tx, table, unique).await.unwrap();
        drop(tx);

        let tx = client.transaction().await.unwrap();
        let set = format!("{unique}, {column} = '{}'", Uuid::new_v4());
        let orphan = insert_copy(&tx, table, &set).await;
        assert!(
            failed_with(&orphan, &SqlState::FOREIGN_KEY_VIOLATION, table),
            "{table}.{column}: {orphan:?}"
        );
    }
}

#[tokio::test]
async fn rows_stay_with_owners() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let platform = "(SELECT id FROM parties WHERE role = 'platform')";
    let changes = [
        "UPDATE tax_determinations SET tenant_id = gen_random_uuid()".to_string(),
        "UPDATE idempotency_keys SET tenant_id = gen_random_uuid()".to_string(),
        "UPDATE invoices SET tenant_id = gen_random_uuid()".to_string(),
        format!("UPDATE invoices SET customer_id = {platform}"),
        format!("UPDATE invoices SET seller_id = {platform}"),
        "UPDATE invoices SET issuer_id = customer_id".to_string(),
        "TRUNCATE tenants CASCADE".to_string(),
        "TRUNCATE parties CASCADE".to_string(),
    ];
    for change in changes {
        // The second word of each change names its table.
        let table = change.split(' ').nth(1).unwrap();
        let tx = client.transaction().await.unwrap();
        let result = tx.batch_execute(&change).await;
        assert!(failed_with(&result, &SqlState::RESTRICT_VIOLATION, table), "{change}: {result:?}");
    }
}

/// Adds and commits a tenant without rows, and returns its id. The row a new tenant gets for
/// period closes names it by a key, so it is removed.
async fn bare_tenant(client: &mut deadpool_postgres::Object) -> Uuid {
    let tenant = Uuid::new_v4();
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO tenants (id, name) VALUES ($1, 'bare')", &[&tenant]).await.unwrap();
    tx.execute("DELETE FROM fiscal_period_closes WHERE tenant_id = $1", &[&tenant]).await.unwrap();
    tx.commit().await.unwrap();
    tenant
}

/// Adds and commits a customer of the books' tenant that nothing names, and returns its id.
async fn bare_party(client: &mut deadpool_postgres::Object) -> Uuid {
    let party = Uuid::new_v4();
    let insert = "INSERT INTO parties (tenant_id, id, role, name, country, time_zone, business) \
                  SELECT tenant_id, $1, 'customer', 'bare', 'BE', 'Europe/Brussels', false \
                  FROM invoices LIMIT 1";
    assert_eq!(client.execute(insert, &[&party]).await.unwrap(), 1);
    party
}

/// Tables whose rows name a tenant by a statement check, with what a copy changes to stay
/// unique given the new owner's id `{owner}`. Journal entries are left out: an entry of a
/// tenant without accounts cannot get lines, so it cannot commit.
const TENANT_ROWS: [(&str, &str); 2] = [
    ("tax_determinations", "id = '{owner}', document_id = '{owner}', tenant_id = '{owner}'"),
    ("idempotency_keys", "tenant_id = '{owner}'"),
];

/// The columns of invoices that name a party.
const PARTY_COLUMNS: [&str; 3] = ["customer_id", "seller_id", "issuer_id"];

/// Returns how a copy of an invoice is changed to name `party` in `column`.
fn invoice_naming(column: &str, party: Uuid) -> String {
    format!("id = '{party}', number = '{party}', {column} = '{party}'")
}

#[tokio::test]
async fn owners_keep_their_rows() {
    let books = books_with_invoice().await;
    let mut client = books.app.sql().await;
    let mut changes = Vec::new();
    for (table, copy) in TENANT_ROWS {
        let tenant = bare_tenant(&mut client).await;
        let tx = client.transaction().await.unwrap();
        insert_copy(&tx, table, &copy.replace("{owner}", &tenant.to_string())).await.unwrap();
        tx.commit().await.unwrap();
        changes.push((table, "tenants", tenant));
    }
    for column in PARTY_COLUMNS {
        let party = bare_party(&mut client).await;
        let tx = client.transaction().await.unwrap();
        insert_copy(&tx, "invoices", &invoice_naming(column, party)).await.unwrap();
        tx.commit().await.unwrap();
        changes.push((column, "parties", party));
    }

    for (named_by, table, id) in changes {
        for change in [
            format!("DELETE FROM {table} WHERE id = '{id}'"),
            format!("UPDATE {table} SET id = gen_random_uuid() WHERE id = '{id}'"),
        ] {
            let tx = client.transaction().await.unwrap();
            let result = tx.batch_execute(&change).await;
            assert!(
                failed_with(&result, &SqlState::FOREIGN_KEY_VIOLATION, table),
                "{named_by}, {change}: {result:?}"
            );
            drop(tx);
            for isolation in ["REPEATABLE READ", "SERIALIZABLE"] {
                let tx = client.transaction().await.unwrap();
                tx.batch_execute(&format!("SET TRANSACTION ISOLATION LEVEL {isolation}"))
                    .await
                    .unwrap();
                let result = tx.batch_execute(&change).await;
                assert!(
                    failed_with(&result, &SqlState::FEATURE_NOT_SUPPORTED, table),
                    "{named_by}, {isolation}, {change}: {result:?}"
                );
            }
        }
    }

    // A tenant and a party that nothing names can be deleted.
    let (tenant, party) = (bare_tenant(&mut client).await, bare_party(&mut client).await);
    let tx = client.transaction().await.unwrap();
    assert_eq!(tx.execute("DELETE FROM tenants WHERE id = $1", &[&tenant]).await.unwrap(), 1);
    assert_eq!(tx.execute("DELETE FROM parties WHERE id = $1", &[&party]).await.unwrap(), 1);
}

/// A row inserted for a tenant or party that another transaction is deleting waits for it,
/// then fails once the delete commits.
#[tokio::test]
async fn insert_waits_for_deleted_owner() {
    let books = books_with_invoice().await;
    let mut deleting = books.app.sql().await;
    let tenant = bare_tenant(&mut deleting).await;
    let party = bare_party(&mut deleting).await;
    let cases = [
        (
            "tenants",
            tenant,
            "tax_determinations",
            TENANT_ROWS[0].1.replace("{owner}", &tenant.to_string()),
        ),
        ("parties", party, "invoices", invoice_naming("seller_id", party)),
    ];
    for (owners, id, table, copy) in cases {
        let mut adding = books.app.sql().await;
        let tx = deleting.transaction().await.unwrap();
        let deleted = tx.execute(&format!("DELETE FROM {owners} WHERE id = $1"), &[&id]).await;
        assert_eq!(deleted.unwrap(), 1, "{owners}");
        let pid: i32 = adding.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        let insert = tokio::spawn(async move {
            let tx = adding.transaction().await.unwrap();
            insert_copy(&tx, table, &copy).await
        });

        let waiting = waits_for_lock(&books, pid, &insert).await;
        assert!(
            waiting,
            "the insert into {table} did not wait for the delete of its owner (finished: {})",
            insert.is_finished()
        );
        tx.commit().await.unwrap();
        let inserted = insert.await.unwrap();
        assert!(
            failed_with(&inserted, &SqlState::FOREIGN_KEY_VIOLATION, table),
            "{table}: {inserted:?}"
        );
    }
}
