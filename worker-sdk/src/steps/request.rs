//! What steps ask of the running session.

use stalk_proto::v1 as pb;

/// What the lease keeper, the heartbeat and the control handler ask of the running session (a
/// request of a step, not a control command).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepRequest {
    /// Extend the lease of every running task.
    KeepLeases,
    /// Tell the broker the worker is alive.
    Heartbeat,
    /// Send the answer to a control command.
    Reply(pb::ControlReply),
    /// Change what the session takes (a control command); the session answers it.
    Reconfigure {
        /// The control request to answer.
        request_id: u64,
        /// What to change.
        change: Reconfigure,
    },
}

/// A change to what the session takes, which only the session can make: its queues and slots
/// are its own, and the broker must hear of them on its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reconfigure {
    /// Take tasks from this queue too.
    AddConsumer(String),
    /// Take no new task from this queue.
    CancelConsumer(String),
    /// Run this many more tasks at once.
    PoolGrow(u32),
    /// Run this many fewer tasks at once.
    PoolShrink(u32),
}
