//! The outbox of invoice messages for the external tax provider.
//!
//! A document's tax is determined with a quotation, which the provider does not record. The
//! invoice message that records the sale in the provider's tax journal is stored by `enqueue`
//! in the transaction that posts the document. `deliver` sends it once that transaction has
//! committed, so a document that is rolled back never reaches the provider. A message whose
//! send fails stays pending with its error and attempt count. `sync` sends pending messages
//! again, run by `subledger tax sync`, at `serve` start and after the next successful send.
//!
//! Delivery is at least once: when the provider records a message but its response is lost
//! (a timeout, a crash before the row is marked sent), the message is sent again later under
//! the same document number.

use std::cell::RefCell;
use std::future::Future;

use chrono::NaiveDate;
use deadpool_postgres::{GenericClient, Pool};
use uuid::Uuid;

use super::provider::wire::{CalculationRequest, SaleMessageType};
use super::provider::{ProviderError, TaxProvider};
use crate::error::Error;

/// Most pending messages one `sync` pass sends per tenant, so a pass ends in bounded time.
pub const SYNC_BATCH: i64 = 1000;

/// A stored message, named by its tenant and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub tenant_id: Uuid,
    pub id: Uuid,
}

/// A message to record one part of a document at the provider.
#[derive(Debug, Clone)]
pub struct Message {
    /// `sale` or `commission`.
    pub part: &'static str,
    pub request: CalculationRequest,
}

/// The document a message records.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// `invoice` or `credit_note`.
    pub kind: &'static str,
    pub id: Uuid,
    pub number: &'a str,
}

tokio::task_local! {
    static ENQUEUED: RefCell<Vec<Queued>>;
}

/// Runs `work` and returns, with its output, the messages it enqueued, so the caller can
/// `deliver` them once `work` has committed. Messages of a rolled-back transaction are listed
/// too; `deliver` finds no row for them and sends nothing.
pub async fn collect<F: Future>(work: F) -> (F::Output, Vec<Queued>) {
    ENQUEUED
        .scope(RefCell::new(Vec::new()), async move {
            let output = work.await;
            (output, ENQUEUED.with(|queued| queued.take()))
        })
        .await
}

/// Stores `message` as an invoice message of `document`, to send after the caller's
/// transaction commits. `after` names a message that must be sent first.
pub async fn enqueue(
    client: &impl GenericClient,
    tenant_id: Uuid,
    document: Document<'_>,
    message: Message,
    after: Option<Uuid>,
) -> Result<Uuid, Error> {
    let mut request = message.request;
    request.sale_message_type = SaleMessageType::Invoice;
    request.document_number = Some(document.number.to_string());
    let request = serde_json::to_value(&request).map_err(Error::internal)?;
    let id = Uuid::now_v7();
    let statement = client
        .prepare_cached(
            "INSERT INTO tax_provider_outbox (tenant_id, id, document_kind, document_id, \
             document_number, part, request, after_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &tenant_id,
                &id,
                &document.kind,
                &document.id,
                &document.number,
                &message.part,
                &request,
                &after,
            ],
        )
        .await?;
    // Outside a `collect` scope (a command-line job, say) the message waits for `sync`.
    let _ = ENQUEUED.try_with(|queued| queued.borrow_mut().push(Queued { tenant_id, id }));
    Ok(id)
}

/// A stored invoice message of a document, for building the message of a credit note.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: Uuid,
    pub part: String,
    pub request: CalculationRequest,
}

/// Loads the invoice messages stored for a document, whatever their status.
pub async fn messages_of(
    client: &impl GenericClient,
    tenant_id: Uuid,
    document_kind: &str,
    document_id: Uuid,
) -> Result<Vec<StoredMessage>, Error> {
    let statement = client
        .prepare_cached(
            "SELECT id, part, request FROM tax_provider_outbox \
             WHERE tenant_id = $1 AND document_kind = $2 AND document_id = $3 ORDER BY part",
        )
        .await?;
    let rows = client.query(&statement, &[&tenant_id, &document_kind, &document_id]).await?;
    rows.iter()
        .map(|row| {
            let request = serde_json::from_value(row.get(2)).map_err(Error::internal)?;
            Ok(StoredMessage { id: row.get(0), part: row.get(1), request })
        })
        .collect()
}

/// Builds the request of a credit: the given lines of `original` with negative prices, dated
/// `date`. Returns `None` when none of the lines is in `original`.
pub fn credit_request(
    original: &CalculationRequest,
    lines: &[CreditedLine],
    date: NaiveDate,
) -> Option<CalculationRequest> {
    let mut line_items = Vec::new();
    for credited in lines {
        let number = credited.line_item_number;
        let Some(item) = original.line_items.iter().find(|item| item.line_item_number == number)
        else {
            continue;
        };
        let mut item = item.clone();
        item.extended_price = -credited.amount;
        if let Some(quantity) = credited.quantity.filter(|quantity| !quantity.is_zero()) {
            item.quantity.value = quantity;
        }
        line_items.push(item);
    }
    if line_items.is_empty() {
        return None;
    }
    Some(CalculationRequest { document_date: date, line_items, ..original.clone() })
}

/// A line credited by a credit note: the original line's number, the net amount credited and
/// the quantity, when the credit names one.
#[derive(Debug, Clone, Copy)]
pub struct CreditedLine {
    pub line_item_number: u32,
    pub amount: rust_decimal::Decimal,
    pub quantity: Option<rust_decimal::Decimal>,
}

/// Outcome of sending a pending message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The provider failed on this message (a 5xx, a 409, a malformed response), so the
    /// message stays pending.
    Failed,
    /// The provider could not be reached, turned the service away or is over its rate limit.
    /// The message stays pending, and no further message is sent in the same delivery or
    /// pass, since it would fare the same.
    Unreachable,
    /// The provider rejected the message with a 4xx about the message itself (see
    /// `ProviderError::Rejected`), so it is not sent again.
    Rejected,
}

/// Sends the messages `queued` once their transaction has committed. A message that another
/// sender holds, that was already sent, or whose transaction rolled back is skipped. An
/// [`Outcome::Unreachable`] ends the delivery, and the rest stay pending.
pub async fn deliver(
    pool: &Pool,
    provider: &dyn TaxProvider,
    queued: &[Queued],
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::with_capacity(queued.len());
    if queued.is_empty() {
        return Ok(outcomes);
    }
    let mut client = pool.get().await?;
    for message in queued {
        if let Some(outcome) = send(&mut client, provider, message.tenant_id, message.id).await? {
            outcomes.push(outcome);
            if outcome == Outcome::Unreachable {
                break;
            }
        }
    }
    Ok(outcomes)
}

/// Counts of one `sync` pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub sent: u64,
    pub failed: u64,
    pub rejected: u64,
    /// Pending messages left unsent: held by another sender, or waiting for the message of
    /// the invoice they credit.
    pub skipped: u64,
    /// Pending messages not tried because the provider was unreachable, which ends the pass.
    pub not_tried: u64,
}

/// Sends the pending messages of `tenant`, or of every tenant, oldest first, up to
/// `SYNC_BATCH` per tenant. An [`Outcome::Unreachable`] ends the pass, and the messages left,
/// of this tenant and of the tenants after it, count as not tried. A message that fails on its
/// own ([`Outcome::Failed`]) does not stop the others.
pub async fn sync(
    pool: &Pool,
    provider: &dyn TaxProvider,
    tenant: Option<Uuid>,
) -> Result<SyncReport, Error> {
    let mut client = pool.get().await?;
    let tenants: Vec<Uuid> = match tenant {
        Some(id) => vec![id],
        None => {
            let rows = client.query("SELECT id FROM tenants ORDER BY id", &[]).await?;
            rows.iter().map(|row| row.get(0)).collect()
        }
    };
    let mut report = SyncReport::default();
    for (position, tenant_id) in tenants.iter().enumerate() {
        let rows = client
            .query(
                "SELECT id FROM tax_provider_outbox WHERE tenant_id = $1 AND status = 'pending' \
                 ORDER BY created_at, id LIMIT $2",
                &[tenant_id, &SYNC_BATCH],
            )
            .await?;
        for (index, row) in rows.iter().enumerate() {
            match send(&mut client, provider, *tenant_id, row.get(0)).await? {
                Some(Outcome::Sent) => report.sent += 1,
                Some(Outcome::Failed) => report.failed += 1,
                Some(Outcome::Unreachable) => {
                    report.failed += 1;
                    let later_tenants = &tenants[position + 1..];
                    let later: i64 = client
                        .query_one(
                            "SELECT count(*) FROM tax_provider_outbox \
                             WHERE status = 'pending' AND tenant_id = ANY($1)",
                            &[&later_tenants],
                        )
                        .await?
                        .get(0);
                    report.not_tried = (rows.len() - index - 1) as u64 + later as u64;
                    return Ok(report);
                }
                Some(Outcome::Rejected) => report.rejected += 1,
                None => report.skipped += 1,
            }
        }
    }
    Ok(report)
}

/// Counts the pending messages of every tenant.
pub async fn pending_count(client: &impl GenericClient) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT count(*) FROM tax_provider_outbox WHERE status = 'pending'", &[])
        .await?;
    Ok(row.get(0))
}

/// Sends one pending message and records the outcome. The row stays locked while the provider
/// is called, so two senders never send the same message at once. Returns `None` when the
/// message is not pending, is locked by another sender, or waits for the message it follows. A
/// message that follows a rejected one is rejected without being sent.
async fn send(
    client: &mut deadpool_postgres::Client,
    provider: &dyn TaxProvider,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Outcome>, Error> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT o.request, o.document_number, a.status, a.document_number \
             FROM tax_provider_outbox o LEFT JOIN tax_provider_outbox a \
             ON a.tenant_id = o.tenant_id AND a.id = o.after_id \
             WHERE o.tenant_id = $1 AND o.id = $2 AND o.status = 'pending' \
             FOR UPDATE OF o SKIP LOCKED",
            &[&tenant_id, &id],
        )
        .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let after_status: Option<&str> = row.get(2);
    if after_status == Some("rejected") {
        // The provider never recorded the document this one follows (the invoice a credit
        // note credits), so this message can never be sent.
        let after_number: &str = row.get(3);
        let error = format!(
            "not sent: the provider rejected the message of {after_number}, which this one follows"
        );
        tx.execute(
            "UPDATE tax_provider_outbox SET status = 'rejected', last_error = $3 \
             WHERE tenant_id = $1 AND id = $2",
            &[&tenant_id, &id, &error],
        )
        .await?;
        tx.commit().await?;
        let number: &str = row.get(1);
        tracing::warn!(
            tenant.id = %tenant_id,
            document.number = number,
            outbox.id = %id,
            error,
            "tax provider message rejected without sending"
        );
        return Ok(Some(Outcome::Rejected));
    }
    if after_status.is_some_and(|status| status != "sent") {
        tx.rollback().await?;
        return Ok(None);
    }

    let request: CalculationRequest =
        serde_json::from_value(row.get(0)).map_err(Error::internal)?;
    let number: &str = row.get(1);
    let (outcome, error, response) = match provider.calculate(&request).await {
        Ok(reply) => (Outcome::Sent, None, Some(reply.raw)),
        Err(err @ ProviderError::Rejected { .. }) => (Outcome::Rejected, Some(err), None),
        Err(err) if err.is_provider_wide() => (Outcome::Unreachable, Some(err), None),
        // NOTE: a message that fails on its own every time (a 409, a 5xx for its payload)
        // stays pending with no cap on its attempts, and each pass tries it again.
        Err(err) => (Outcome::Failed, Some(err), None),
    };

    let status = match outcome {
        Outcome::Sent => "sent",
        Outcome::Failed | Outcome::Unreachable => "pending",
        Outcome::Rejected => "rejected",
    };
    let message = error.as_ref().map(ProviderError::detail);
    tx.execute(
        "UPDATE tax_provider_outbox SET status = $3, attempts = attempts + 1, last_error = $4, \
         last_attempt_at = now(), response = coalesce($5, response), \
         sent_at = CASE WHEN $3 = 'sent' THEN now() END WHERE tenant_id = $1 AND id = $2",
        &[&tenant_id, &id, &status, &message, &response],
    )
    .await?;
    tx.commit().await?;

    match &error {
        None => {
            tracing::debug!(tenant.id = %tenant_id, document.number = number, "tax provider recorded the document")
        }
        Some(err) => tracing::warn!(
            tenant.id = %tenant_id,
            document.number = number,
            outbox.id = %id,
            error = %err.detail(),
            status,
            "tax provider did not record the document"
        ),
    }
    Ok(Some(outcome))
}
