//! Invoices that one tenant posts alone at the same time, written together.
//!
//! Each tenant has a few posting slots ([`Config::invoice_slots`]). An invoice that finds a slot
//! free posts alone, with the single-document path. One that finds every slot taken waits in
//! its tenant's queue. When a posting ends, its slot goes to the queue: the first waiting
//! invoice leads, and posts itself and the others behind it in one transaction through the
//! batch path. Every request still gets the status and body it would have got alone, once
//! its invoice has committed. So a tenant with many concurrent writers pays one transaction,
//! one commit and one statement per table for several invoices, and one with few keeps the
//! latency of single posting.
//!
//! When the joint write cannot be used (see `post_invoices_together`), nothing of it is
//! written and each invoice of the group posts alone. A retry of any of them is safe at every
//! point, because each keeps its own idempotency key.
//!
//! [`Config::invoice_slots`]: crate::config::Config::invoice_slots

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::HttpResponse;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::batches::{self, BatchDocument, DocumentKind};
use super::body::typed;
use super::idempotency::{self, BatchOutcome, BatchWrite, IdempotencyKey, Reply};
use super::AppState;
use crate::billing::invoice::{self, NewInvoice};
use crate::db::tenancy::Caller;
use crate::tax::outbox;

/// Maximum invoices in one group: one write of the batch path.
const MAX_GROUP: usize = 100;

/// The posting slots and queues of every tenant with an invoice in flight.
pub struct Groups {
    /// Invoices of one tenant posted at the same time; 0 posts every invoice alone at once.
    slots: usize,
    tenants: Mutex<HashMap<Uuid, Tenant>>,
}

#[derive(Default)]
struct Tenant {
    /// Slots in use: invoices posting alone and groups posting.
    in_use: usize,
    waiting: VecDeque<Waiting>,
}

/// An invoice request waiting for a slot.
struct Waiting {
    request: Request,
    turn: oneshot::Sender<Turn>,
}

/// An invoice request: its caller, key, fingerprint and body.
#[derive(Clone)]
struct Request {
    caller: Caller,
    key: IdempotencyKey,
    request_sha256: Vec<u8>,
    body: Arc<Value>,
}

/// The turn a waiting request gets when it leaves the queue.
enum Turn {
    /// Post alone, holding the tenant's slot when `Some`, and then hand the slot to the
    /// requests listed: the rest of a group that could not be written together, which post
    /// alone one after another in their order.
    Alone(Option<Slot>, Vec<Waiting>),
    /// Post this request first and `others` after it, together, holding the slot.
    Lead(Slot, Vec<Waiting>),
    /// Posted by the leader of its group.
    Answered(BatchOutcome),
}

/// A tenant's posting slot. Dropping it gives the slot to the tenant's queue, or frees it.
struct Slot {
    /// `None` once the slot has been taken back by [`Groups::hand_over`].
    groups: Option<Arc<Groups>>,
    tenant_id: Uuid,
}

impl Slot {
    /// Takes the slot back without handing it over, for `hand_over` to hand it again.
    fn take_back(mut self) {
        self.groups = None;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(groups) = self.groups.take() {
            groups.hand_over(self.tenant_id);
        }
    }
}

impl Groups {
    pub fn new(slots: usize) -> Groups {
        Groups { slots, tenants: Mutex::new(HashMap::new()) }
    }

    /// Invoices of `tenant_id` waiting for a posting slot.
    pub fn waiting(&self, tenant_id: Uuid) -> usize {
        self.tenants().get(&tenant_id).map_or(0, |tenant| tenant.waiting.len())
    }

    fn tenants(&self) -> MutexGuard<'_, HashMap<Uuid, Tenant>> {
        // The map stays consistent even if a thread panicked while holding the lock: every
        // change under it is a single push, pop or count.
        self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot of `request`'s tenant, or queues the request and returns where its turn
    /// comes.
    fn enter(self: &Arc<Groups>, request: &Request) -> Result<Slot, oneshot::Receiver<Turn>> {
        let tenant_id = request.caller.tenant_id;
        let mut tenants = self.tenants();
        let tenant = tenants.entry(tenant_id).or_default();
        if tenant.in_use < self.slots {
            tenant.in_use += 1;
            return Ok(Slot { groups: Some(self.clone()), tenant_id });
        }
        let (turn, receiver) = oneshot::channel();
        tenant.waiting.push_back(Waiting { request: request.clone(), turn });
        Err(receiver)
    }

    /// Gives a slot of `tenant_id` that has just been released to the requests waiting for
    /// one: the first leads a group of up to [`MAX_GROUP`], or posts alone when no other
    /// waits. A request that no longer listens (its client went away) is skipped. With nobody
    /// waiting, the slot is freed.
    fn hand_over(self: &Arc<Groups>, tenant_id: Uuid) {
        loop {
            let mut group = {
                let mut tenants = self.tenants();
                let Some(tenant) = tenants.get_mut(&tenant_id) else { return };
                if tenant.waiting.is_empty() {
                    tenant.in_use = tenant.in_use.saturating_sub(1);
                    if tenant.in_use == 0 {
                        tenants.remove(&tenant_id);
                    }
                    return;
                }
                let size = tenant.waiting.len().min(MAX_GROUP);
                tenant.waiting.drain(..size).collect::<Vec<_>>()
            };
            let leader = group.remove(0);
            // The slot passes to the leader, so the count of slots in use stays as it is.
            let slot = Slot { groups: Some(self.clone()), tenant_id };
            let turn = if group.is_empty() {
                Turn::Alone(Some(slot), Vec::new())
            } else {
                Turn::Lead(slot, group)
            };
            match leader.turn.send(turn) {
                Ok(()) => return,
                Err(Turn::Lead(slot, others)) => {
                    // The others go back to the front of the queue, in their order, and the
                    // slot is handed over again on the next pass.
                    let mut tenants = self.tenants();
                    let tenant = tenants.entry(tenant_id).or_default();
                    for waiting in others.into_iter().rev() {
                        tenant.waiting.push_front(waiting);
                    }
                    drop(tenants);
                    slot.take_back();
                }
                Err(Turn::Alone(Some(slot), _)) => slot.take_back(),
                Err(_) => {}
            }
        }
    }
}

/// Posts the invoice `body` under `key` for `caller`: alone when the tenant has a free slot,
/// or with the other invoices of the tenant that wait for one.
pub async fn post_invoice(
    state: &AppState,
    caller: Caller,
    key: IdempotencyKey,
    request_sha256: Vec<u8>,
    body: Value,
) -> HttpResponse {
    let request = Request { caller, key, request_sha256, body: Arc::new(body) };
    if state.groups.slots == 0 {
        return post_alone(state, request).await;
    }
    let turn = match state.groups.enter(&request) {
        Ok(slot) => Turn::Alone(Some(slot), Vec::new()),
        // The sender is dropped unanswered when the request that was to hand this one its
        // turn went away first (its client left, or it panicked). Posting alone is always safe.
        Err(receiver) => receiver.await.unwrap_or(Turn::Alone(None, Vec::new())),
    };
    match turn {
        Turn::Alone(slot, then) => {
            let response = post_alone(state, request).await;
            pass_on(slot, then);
            response
        }
        Turn::Lead(slot, others) => post_group(state, slot, request, others).await,
        Turn::Answered(outcome) => {
            state.metrics.count_grouped_invoice("together");
            idempotency::respond(outcome.status, outcome.body, outcome.replayed)
        }
    }
}

/// Hands `slot` to the first request of `then` that still listens, with the rest of `then` to
/// post after it, or releases it when none is left.
fn pass_on(mut slot: Option<Slot>, then: Vec<Waiting>) {
    let mut then = then.into_iter();
    while let Some(next) = then.next() {
        match next.turn.send(Turn::Alone(slot, then.collect())) {
            Ok(()) => return,
            Err(Turn::Alone(returned, rest)) => {
                slot = returned;
                then = rest.into_iter();
            }
            Err(_) => return,
        }
    }
    drop(slot);
}

/// Posts one invoice with the single-document path.
async fn post_alone(state: &AppState, request: Request) -> HttpResponse {
    let Request { caller, key, request_sha256, body } = request;
    let tenant_id = caller.tenant_id;
    let engine = state.tax.clone();
    // The first statements of an invoice read its parties and accounts and take a key-share
    // lock on its seller.
    let write =
        idempotency::execute_reading_early(state, &caller, &key, request_sha256, move |tx| {
            Box::pin(async move {
                let new: NewInvoice = typed(&body)?;
                Reply::created(&invoice::create(tx, &engine, tenant_id, new).await?)
            })
        });
    // The provider records the document only after its transaction has committed.
    let (response, queued) = outbox::collect(write).await;
    state.tax.deliver(&state.pool, &queued).await;
    response
}

/// Posts the leader's invoice and then `others` in one transaction, holding `slot`, answers
/// each of the others, and returns the leader's response. When the joint write cannot be used,
/// every invoice of the group posts alone instead, one after another in their order, so that
/// each is numbered as it would have been in the group.
async fn post_group(
    state: &AppState,
    slot: Slot,
    leader: Request,
    others: Vec<Waiting>,
) -> HttpResponse {
    let requests: Vec<&Request> =
        std::iter::once(&leader).chain(others.iter().map(|waiting| &waiting.request)).collect();
    let documents: Vec<BatchDocument> = requests
        .iter()
        .map(|request| BatchDocument {
            kind: DocumentKind::Invoice,
            idempotency_key: request.key.0.clone(),
            body: Value::clone(&request.body),
        })
        .collect();
    let writes: Vec<BatchWrite> = requests
        .iter()
        .map(|request| BatchWrite {
            key: request.key.clone(),
            request_sha256: request.request_sha256.clone(),
            position: None,
        })
        .collect();
    let posted = batches::post_invoices_together(state, &leader.caller, &documents, &writes);
    let (posted, queued) = outbox::collect(posted).await;
    match posted {
        Ok(Some(outcomes)) => {
            state.tax.deliver(&state.pool, &queued).await;
            let mut outcomes = outcomes.into_iter();
            let own = outcomes.next();
            for (waiting, outcome) in others.into_iter().zip(outcomes) {
                // A request that no longer listens has its response stored under its key.
                let _ = waiting.turn.send(Turn::Answered(outcome));
            }
            state.metrics.count_grouped_invoice("together");
            drop(slot);
            match own {
                Some(own) => idempotency::respond(own.status, own.body, own.replayed),
                None => post_alone(state, leader).await,
            }
        }
        Ok(None) | Err(_) => {
            // Nothing was written, so each invoice posts alone, as it would have without a
            // group. `post_invoices_together` has logged why, unless no connection could be had.
            if let Err(error) = &posted {
                tracing::warn!(
                    error = %error,
                    tenant_id = %leader.caller.tenant_id,
                    invoices = others.len() + 1,
                    "invoice group posts one invoice at a time"
                );
            }
            for _ in 0..=others.len() {
                state.metrics.count_grouped_invoice("alone");
            }
            let response = post_alone(state, leader).await;
            pass_on(Some(slot), others);
            response
        }
    }
}
