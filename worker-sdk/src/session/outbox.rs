//! The typed sender to the broker: the only place that builds a worker's protocol messages.

use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::worker_message::Kind;
use tokio::sync::mpsc;

use crate::time::millis;

/// Messages queued for one connection before it sends them.
const QUEUE: usize = 256;

/// The connection is gone: the message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disconnected;

/// What the worker says to the broker on one connection, one method per message.
#[derive(Debug)]
pub(crate) struct ToBroker(mpsc::Sender<pb::WorkerMessage>);

impl ToBroker {
    /// A sender and the stream of messages it feeds, for one connection.
    pub(crate) fn channel() -> (Self, mpsc::Receiver<pb::WorkerMessage>) {
        let (sender, outbound) = mpsc::channel(QUEUE);
        (Self(sender), outbound)
    }

    async fn send(&self, kind: Kind) -> Result<(), Disconnected> {
        let message = pb::WorkerMessage { kind: Some(kind) };
        self.0.send(message).await.map_err(|_| Disconnected)
    }

    /// Opens the session: who the worker is and what it runs.
    pub(crate) async fn hello(&self, hello: pb::Hello) -> Result<(), Disconnected> {
        self.send(Kind::Hello(hello)).await
    }

    /// Takes tasks from `queues` from now on, instead of the set named before.
    pub(crate) async fn consume(&self, queues: Vec<String>) -> Result<(), Disconnected> {
        self.send(Kind::Consume(pb::Consume { queues })).await
    }

    /// Lets the broker push `tasks` more tasks.
    pub(crate) async fn credit(&self, tasks: u32) -> Result<(), Disconnected> {
        self.send(Kind::Credit(pb::Credit { tasks })).await
    }

    /// These pushed tasks started (or, on a new connection, are still running): their prefetch
    /// leases become running leases.
    pub(crate) async fn started(&self, tasks: Vec<pb::StartedTask>) -> Result<(), Disconnected> {
        self.send(Kind::Started(pb::Started { tasks })).await
    }

    /// The outcomes of finished attempts.
    pub(crate) async fn acks(&self, acks: Vec<pb::AckRequest>) -> Result<(), Disconnected> {
        self.send(Kind::Acks(pb::AckManyRequest { acks })).await
    }

    /// Gives a task back without an attempt (or rejects it to the dead-letter set).
    pub(crate) async fn nack(&self, nack: pb::NackRequest) -> Result<(), Disconnected> {
        self.send(Kind::Nack(nack)).await
    }

    /// Extends a running task's lease by `lease`.
    pub(crate) async fn extend(
        &self,
        task_id: &str,
        lease_id: u64,
        lease: Duration,
    ) -> Result<(), Disconnected> {
        let extend = pb::ExtendLeaseRequest {
            task_id: task_id.to_string(),
            lease_id,
            lease_duration_ms: millis(lease),
        };
        self.send(Kind::Extend(extend)).await
    }

    /// The worker is alive (it may have nothing else to say).
    pub(crate) async fn heartbeat(&self) -> Result<(), Disconnected> {
        self.send(Kind::Heartbeat(pb::Heartbeat {})).await
    }

    /// The answer to a control command.
    pub(crate) async fn control_reply(&self, reply: pb::ControlReply) -> Result<(), Disconnected> {
        self.send(Kind::ControlReply(reply)).await
    }

    /// A clean close: the broker releases at once what the worker holds and did not start.
    pub(crate) async fn goodbye(&self) -> Result<(), Disconnected> {
        self.send(Kind::Goodbye(pb::Goodbye {})).await
    }
}
