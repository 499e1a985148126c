//! Control commands as the session sees them: handed to the control step, answered with the
//! session's live facts, and those that change what the session takes: its queues
//! (`add_consumer`, `cancel_consumer`) and its slots (`pool_grow`, `pool_shrink`), with the
//! credit bookkeeping that follows the slots.
//!
//! Tasks of a cancelled queue that the worker already holds, running or prefetched, still run
//! here: they are leased to this worker, and running them loses nothing and needs no message.
//! A shrink stops nothing: running tasks finish, and no task starts while more run than there
//! are slots; the broker's credit shrinks as tasks finish (see `credit_debt`).

use std::collections::HashMap;

use stalk_proto::v1 as pb;

use tokio::sync::mpsc;

use super::Session;
use crate::steps::Reconfigure;

/// Most queues a session may take from (as the broker checks `hello` and `consume`).
const MAX_QUEUES: usize = 32;
/// Most slots a pool may have: past it a thread pool outgrows tokio's blocking threads and a
/// prefork pool is that many processes.
const MAX_SLOTS: u32 = 1024;
/// Most tasks held at once, running or prefetched: the broker's cap on unused credits.
const MAX_CAPACITY: u32 = 10_000;

impl Session<'_> {
    /// The broker relays a control command: the control step answers it, or it is refused here.
    pub(crate) async fn control_request(&mut self, request: pb::ControlRequest) {
        if let Err(unanswered) = forward(self.commands.as_ref(), request) {
            let _ = self.out.control_reply(self.counted(unanswered)).await;
        }
    }

    /// A control reply with the session's live counts added to the worker's facts:
    /// `acks_refused`, the acks the broker refused since the worker started, and the
    /// `concurrency` and `queues` as control commands left them.
    pub(super) fn counted(&self, mut reply: pb::ControlReply) -> pb::ControlReply {
        let live = [
            ("acks_refused", self.acks.refused().to_string()),
            ("concurrency", self.slots.to_string()),
            ("queues", self.queues.join(",")),
        ];
        for (key, value) in live {
            reply.details.insert(key.into(), value);
        }
        reply
    }

    /// Tasks held at once: running or waiting for a slot.
    pub(super) fn capacity(&self) -> usize {
        let capacity = self.slots.saturating_add(self.settings.prefetch);
        usize::try_from(capacity).unwrap_or(usize::MAX)
    }

    /// Grants the broker `freed` places again, less what a pool shrink still withholds.
    pub(super) async fn grant(&mut self, freed: u32) {
        let repaid = freed.min(self.credit_debt);
        self.credit_debt -= repaid;
        let granted = freed - repaid;
        if granted > 0 {
            let _ = self.out.credit(granted).await;
        }
    }

    /// Makes `change` and says how it went.
    pub(super) async fn reconfigure(
        &mut self,
        request_id: u64,
        change: Reconfigure,
    ) -> pb::ControlReply {
        let (ok, message) = match change {
            Reconfigure::AddConsumer(queue) => self.add_consumer(queue).await,
            Reconfigure::CancelConsumer(queue) => self.cancel_consumer(&queue).await,
            Reconfigure::PoolGrow(slots) => self.pool_grow(slots).await,
            Reconfigure::PoolShrink(slots) => self.pool_shrink(slots),
        };
        if ok {
            tracing::info!(%message, "changed by a control command");
        }
        pb::ControlReply {
            request_id,
            ok,
            message,
            details: HashMap::new(),
        }
    }

    async fn add_consumer(&mut self, queue: String) -> (bool, String) {
        if self.queues.contains(&queue) {
            return (true, format!("already consuming from {queue}"));
        }
        if self.queues.len() >= MAX_QUEUES {
            return (
                false,
                format!("already consuming from {MAX_QUEUES} queues, the most a worker may"),
            );
        }
        self.queues.push(queue);
        self.send_queues().await;
        let added = self.queues.last().map_or("", String::as_str);
        (true, format!("consuming from {added}"))
    }

    async fn cancel_consumer(&mut self, queue: &str) -> (bool, String) {
        if !self.queues.iter().any(|q| q == queue) {
            return (false, format!("not consuming from {queue}"));
        }
        if self.queues.len() == 1 {
            return (
                false,
                format!(
                    "{queue} is the only queue this worker consumes; add another before \
                     cancelling it"
                ),
            );
        }
        self.queues.retain(|q| q != queue);
        self.send_queues().await;
        (
            true,
            format!("no longer consuming from {queue}; tasks of it already here still run"),
        )
    }

    /// Tells the broker the queue set; with no connection, the next hello names it.
    async fn send_queues(&mut self) {
        let _ = self.out.consume(self.queues.clone()).await;
    }

    async fn pool_grow(&mut self, slots: u32) -> (bool, String) {
        let cap = MAX_SLOTS.min(MAX_CAPACITY.saturating_sub(self.settings.prefetch));
        let added = slots.min(cap.saturating_sub(self.slots));
        if added == 0 {
            return (
                false,
                format!(
                    "the pool is at its cap of {} slots (at most {MAX_SLOTS}, and slots plus \
                     prefetch at most {MAX_CAPACITY})",
                    self.slots
                ),
            );
        }
        self.pool.grow(added);
        self.slots += added;
        self.settings.metrics.slots(self.slots);
        if !self.stopping {
            // Owed credit is forgiven first: those places were never taken back.
            let forgiven = added.min(self.credit_debt);
            self.credit_debt -= forgiven;
            if added > forgiven {
                let _ = self.out.credit(added - forgiven).await;
            }
            self.run_waiting().await;
        }
        let capped = if added < slots { " (the cap)" } else { "" };
        (
            true,
            format!("pool grew by {added} to {}{capped}", self.slots),
        )
    }

    fn pool_shrink(&mut self, slots: u32) -> (bool, String) {
        let removed = slots.min(self.slots.saturating_sub(1));
        if removed == 0 {
            return (false, "the pool is at its floor of 1 slot".into());
        }
        self.pool.shrink(removed);
        self.slots -= removed;
        self.credit_debt = self.credit_debt.saturating_add(removed);
        self.settings.metrics.slots(self.slots);
        let floor = if removed < slots { " (the floor)" } else { "" };
        (
            true,
            format!(
                "pool shrank by {removed} to {}{floor}; running tasks finish",
                self.slots
            ),
        )
    }
}

/// Hands a control command to the control step; the reply to send when it cannot.
fn forward(
    commands: Option<&mpsc::Sender<pb::ControlRequest>>,
    request: pb::ControlRequest,
) -> Result<(), pb::ControlReply> {
    let request_id = request.request_id;
    let refused = |message: &str| pb::ControlReply {
        request_id,
        ok: false,
        message: message.into(),
        details: HashMap::new(),
    };
    match commands {
        None => Err(refused("this worker runs no control step")),
        Some(commands) => commands
            .try_send(request)
            .map_err(|_| refused("the control step is busy or stopped")),
    }
}
