//! Invoices posted alone at the same time, written together.
//!
//! Each tenant has a few posting slots ([`Config::invoice_slots`]). An invoice that finds a slot
//! free posts alone, with the single-document path. One that finds every slot taken waits in
//! its tenant's queue. When a posting ends, its slot goes to the queue. The first waiting
//! request starts a task that posts it and the others behind it in one transaction through
//! the batch path. It then waits for its own result like the others. The task, not a
//! request, keeps the slot, so a client that goes away cancels nothing of the group. Every
//! request still gets the status and body it would have got alone, once its invoice has
//! committed. So a tenant with many concurrent writers pays one transaction, one commit and
//! one statement per table for several invoices, and one with few keeps the latency of
//! single posting.
//!
//! Each HTTP worker also posts invoices on a few connections at a time
//! ([`Config::posting_connections`]). An invoice that holds a slot but finds each of them in
//! use waits in the worker's [`ConnectionQueue`], with the invoices of any tenant that come in
//! meanwhile. When one of them frees, a task posts all of them in one transaction: each
//! tenant's invoices are priced against that tenant's reads and locks, then all are written
//! with one statement per table. Many tenants with one writer each then share a transaction,
//! a commit and the statements when the database is the bottleneck. The queue waits for a
//! connection for a bounded time ([`Config::posting_patience`]), so that a posting held up by a
//! lock or a slow tax provider does not hold back the worker's other invoices for long.
//!
//! When the joint write cannot be used (see `post_invoices_together`), nothing of it is
//! written and the task lets each invoice of the group post alone, one after another in
//! arrival order, while it keeps the slots. A retry of any of them is safe at every point,
//! because each keeps its own idempotency key.
//!
//! [`Config::invoice_slots`]: crate::config::Config::invoice_slots
//! [`Config::posting_connections`]: crate::config::Config::posting_connections
//! [`Config::posting_patience`]: crate::config::Config::posting_patience

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::HttpResponse;
use serde_json::Value;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
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
    /// Invoices waiting in the connection queues of every worker.
    waiting_for_connection: AtomicUsize,
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
    /// Post alone, holding the tenant's slot when `slot` is given. When `done` is given, the
    /// task of a group that could not be written together keeps the slot and waits for this
    /// posting to end before it lets the next invoice post.
    Alone { slot: Option<Slot>, done: Option<oneshot::Sender<()>> },
    /// Start the task that posts this request and the others handed over, together.
    Lead(Handoff),
    /// Posted by the task of its group.
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

/// A slot and the waiting requests handed with it to the request that starts their group.
/// Dropped before the group started (that request went away first), it puts the others back
/// at the front of the queue and only then hands the slot over again.
struct Handoff {
    slot: Option<Slot>,
    others: Vec<Waiting>,
}

impl Handoff {
    /// Returns the slot and the other requests, for a group that starts now.
    fn start(mut self) -> Option<(Slot, Vec<Waiting>)> {
        let slot = self.slot.take()?;
        Some((slot, std::mem::take(&mut self.others)))
    }

    /// Puts the other requests back at the front of their tenant's queue, in their order, and
    /// returns the slot without handing it over.
    fn requeue(mut self) -> Option<Slot> {
        let slot = self.slot.take()?;
        if let Some(groups) = &slot.groups {
            let mut tenants = groups.tenants();
            let tenant = tenants.entry(slot.tenant_id).or_default();
            for waiting in std::mem::take(&mut self.others).into_iter().rev() {
                tenant.waiting.push_front(waiting);
            }
        }
        Some(slot)
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if self.slot.is_some() {
            let handoff =
                Handoff { slot: self.slot.take(), others: std::mem::take(&mut self.others) };
            // Dropping the slot after the requests are back hands it to the first of them.
            drop(handoff.requeue());
        }
    }
}

impl Groups {
    pub fn new(slots: usize) -> Groups {
        Groups { slots, tenants: Mutex::new(HashMap::new()), waiting_for_connection: 0.into() }
    }

    /// Invoices, of any tenant, waiting in a worker's connection queue.
    pub fn waiting_for_connection(&self) -> usize {
        self.waiting_for_connection.load(Ordering::Relaxed)
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
    /// one: the first starts a group of up to [`MAX_GROUP`], or posts alone when no other
    /// waits. A request that no longer listens (its client went away) is skipped. When no
    /// request waits, the slot is freed.
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
            let first = group.remove(0);
            // The slot passes on, so the count of slots in use stays as it is.
            let slot = Slot { groups: Some(self.clone()), tenant_id };
            let turn = if group.is_empty() {
                Turn::Alone { slot: Some(slot), done: None }
            } else {
                Turn::Lead(Handoff { slot: Some(slot), others: group })
            };
            let unsent = match first.turn.send(turn) {
                Ok(()) => return,
                Err(Turn::Lead(handoff)) => handoff.requeue(),
                Err(Turn::Alone { slot, .. }) => slot,
                Err(Turn::Answered(_)) => None,
            };
            // The slot is handed over again on the next pass.
            if let Some(slot) = unsent {
                slot.take_back();
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
    let mut turn = match state.groups.enter(&request) {
        Ok(slot) => Turn::Alone { slot: Some(slot), done: None },
        Err(receiver) => wait(receiver).await,
    };
    loop {
        match turn {
            Turn::Alone { slot, done } => {
                // An invoice of a group that could not be written together posts alone.
                let (slot, permit) = match (slot, &done) {
                    (Some(slot), None) => match state.connections.join(state, &request, slot) {
                        Ok(receiver) => {
                            turn = wait(receiver).await;
                            continue;
                        }
                        Err((slot, permit)) => (Some(slot), permit),
                    },
                    (slot, _) => (slot, None),
                };
                let (response, queued) = write_alone(state, request).await;
                drop(permit);
                drop(slot);
                if let Some(done) = done {
                    let _ = done.send(());
                }
                state.tax.deliver(&state.pool, &queued).await;
                return response;
            }
            Turn::Lead(handoff) => {
                let Some((slot, others)) = handoff.start() else {
                    return post_alone(state, request).await;
                };
                let (own, receiver) = oneshot::channel();
                let mut group = vec![Waiting { request: request.clone(), turn: own }];
                group.extend(others);
                actix_web::rt::spawn(post_group(state.clone(), slot, group));
                turn = wait(receiver).await;
            }
            Turn::Answered(outcome) => {
                return idempotency::respond(outcome.status, outcome.body, outcome.replayed);
            }
        }
    }
}

/// Waits for a turn. The sender is dropped unanswered when the request or task that was to
/// hand this one its turn ended early (a panic, or the service shutting down). Posting alone
/// is then safe, because it looks up the request's key first.
async fn wait(receiver: oneshot::Receiver<Turn>) -> Turn {
    receiver.await.unwrap_or(Turn::Alone { slot: None, done: None })
}

/// Posts one invoice with the single-document path.
async fn post_alone(state: &AppState, request: Request) -> HttpResponse {
    let (response, queued) = write_alone(state, request).await;
    state.tax.deliver(&state.pool, &queued).await;
    response
}

/// Writes one invoice with the single-document path, and returns the response with the tax
/// provider's messages, which the caller sends once it has released what it holds. The
/// provider records the document only after its transaction has committed.
async fn write_alone(state: &AppState, request: Request) -> (HttpResponse, Vec<outbox::Queued>) {
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
    outbox::collect(write).await
}

/// Posts the invoices of `group` in one transaction while holding `slot`, as
/// [`post_held`] does.
async fn post_group(state: AppState, slot: Slot, group: Vec<Waiting>) {
    let client = state.pool.get().await;
    post_held(state, client, group, PostingGuards { _slots: vec![slot], _permit: None }).await;
}

/// The invoices of one HTTP worker that hold their tenant's posting slot and wait for one of
/// the worker's posting connections.
pub struct ConnectionQueue {
    /// Invoices of the worker posting alone or together at a time; `None` when unlimited.
    permits: Option<Arc<Semaphore>>,
    /// Maximum wait for a permit, after which the queue posts on a pool connection without one.
    patience: Duration,
    /// The invoices and their slots; `None` while no task waits for a permit.
    waiting: Mutex<Option<Vec<(Waiting, Slot)>>>,
}

impl ConnectionQueue {
    /// Creates the queue of a worker that posts invoices on `connections` connections at a
    /// time, and waits at most `patience` for one of them; 0 connections sets no limit, so that no
    /// invoice waits in the queue.
    pub fn new(connections: usize, patience: Duration) -> ConnectionQueue {
        let permits = (connections > 0).then(|| Arc::new(Semaphore::new(connections)));
        ConnectionQueue { permits, patience, waiting: Mutex::new(None) }
    }

    fn waiting(&self) -> MutexGuard<'_, Option<Vec<(Waiting, Slot)>>> {
        // Every change under the lock is a single push or take.
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `request` with its `slot` when a task of this worker already waits for a posting
    /// connection, or when the worker has none free (a task then starts waiting for one).
    /// Otherwise returns the slot and the connection's permit, for the request to post alone.
    fn join(
        &self,
        state: &AppState,
        request: &Request,
        slot: Slot,
    ) -> Result<oneshot::Receiver<Turn>, (Slot, Option<OwnedSemaphorePermit>)> {
        let Some(permits) = &self.permits else { return Err((slot, None)) };
        let mut waiting = self.waiting();
        let queued = match waiting.as_mut() {
            Some(queued) if queued.len() < MAX_GROUP => queued,
            // A full queue: this request waits for a connection of the pool instead.
            Some(_) => return Err((slot, None)),
            None => match permits.clone().try_acquire_owned() {
                Ok(permit) => return Err((slot, Some(permit))),
                Err(_) => {
                    actix_web::rt::spawn(post_when_connected(state.clone(), permits.clone()));
                    waiting.insert(Vec::new())
                }
            },
        };
        let (turn, receiver) = oneshot::channel();
        queued.push((Waiting { request: request.clone(), turn }, slot));
        state.groups.waiting_for_connection.fetch_add(1, Ordering::Relaxed);
        Ok(receiver)
    }
}

/// Waits for a posting connection of the worker, then posts every invoice that has joined the
/// worker's connection queue meanwhile, as [`post_held`] does. A posting that holds its
/// connection long (a row lock, a slow tax provider) holds back the queue for at most the
/// queue's patience: the queue then posts without a permit.
async fn post_when_connected(state: AppState, permits: Arc<Semaphore>) {
    let patience = state.connections.patience;
    // The semaphore is never closed, so `None` means that the wait ran out.
    let permit = tokio::time::timeout(patience, permits.acquire_owned()).await.ok();
    let permit = permit.and_then(Result::ok);
    let queued = state.connections.waiting().take().unwrap_or_default();
    state.groups.waiting_for_connection.fetch_sub(queued.len(), Ordering::Relaxed);
    let client = state.pool.get().await;
    let (group, slots): (Vec<Waiting>, Vec<Slot>) = queued.into_iter().unzip();
    post_held(state, client, group, PostingGuards { _slots: slots, _permit: permit }).await;
}

/// The posting slots of a group's tenants and, when it waited for one, a posting connection's
/// permit, released together once the group has posted.
struct PostingGuards {
    // Kept only to be dropped, which releases them.
    _slots: Vec<Slot>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Posts the invoices of `group` in one transaction on `client` while holding `guards`, and sends
/// each its result. Runs as a task of its own, so that no client going away cancels it. The tax
/// provider's messages are sent after every result, and after `guards` is released.
/// When the joint write cannot be used, the invoices post alone one after another, in their
/// order, so that each is numbered as it would have been in the group.
async fn post_held(
    state: AppState,
    client: Result<deadpool_postgres::Object, deadpool_postgres::PoolError>,
    group: Vec<Waiting>,
    guards: PostingGuards,
) {
    if group.is_empty() {
        return;
    }
    let (posted, queued) = outbox::collect(write_together(&state, client, &group)).await;
    match posted {
        Some(outcomes) => {
            for (waiting, outcome) in group.into_iter().zip(outcomes) {
                state.metrics.count_grouped_invoice("together");
                // A request that no longer listens has its response stored under its key.
                let _ = waiting.turn.send(Turn::Answered(outcome));
            }
            drop(guards);
            state.tax.deliver(&state.pool, &queued).await;
        }
        None => {
            for waiting in group {
                state.metrics.count_grouped_invoice("alone");
                let (done, ended) = oneshot::channel();
                let turn = Turn::Alone { slot: None, done: Some(done) };
                if waiting.turn.send(turn).is_ok() {
                    // An error means that the request went away during its posting.
                    let _ = ended.await;
                }
            }
            drop(guards);
        }
    }
}

/// Writes the invoices of `group` in one transaction on `client`, its tenants in the order of
/// their ids and each tenant's invoices in their order, and returns their results in the
/// order of `group`. Returns `None`, with nothing written, when the joint write cannot be used
/// or no connection could be had. The connection is back in the pool when this returns.
async fn write_together(
    state: &AppState,
    client: Result<deadpool_postgres::Object, deadpool_postgres::PoolError>,
    group: &[Waiting],
) -> Option<Vec<BatchOutcome>> {
    // A stable sort keeps each tenant's invoices in arrival order.
    let mut order: Vec<usize> = (0..group.len()).collect();
    order.sort_by_key(|&index| group[index].request.caller.tenant_id);
    let requests: Vec<&Request> = order.iter().map(|&index| &group[index].request).collect();

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
    // Each tenant's run of invoices, as a range of `documents` and `writes`.
    let mut tenants = Vec::new();
    let mut start = 0;
    for run in requests.chunk_by(|a, b| a.caller.tenant_id == b.caller.tenant_id) {
        tenants.push((run[0].caller, start..start + run.len()));
        start += run.len();
    }

    let posted = match client {
        Ok(mut client) => {
            batches::post_tenants_together(state, &mut client, &documents, &writes, &tenants).await
        }
        Err(error) => Err(error.into()),
    };
    let outcomes = match posted {
        Ok(Some(outcomes)) => outcomes,
        // `post_tenants_together` has logged why.
        Ok(None) => return None,
        Err(error) => {
            let tenant_ids = batches::tenant_ids(&tenants);
            tracing::warn!(
                error = %error,
                tenant_ids = ?tenant_ids,
                invoices = group.len(),
                "invoice group posts one invoice at a time"
            );
            return None;
        }
    };

    let mut in_group_order: Vec<Option<BatchOutcome>> = (0..group.len()).map(|_| None).collect();
    for (&index, outcome) in order.iter().zip(outcomes) {
        in_group_order[index] = Some(outcome);
    }
    in_group_order.into_iter().collect()
}
