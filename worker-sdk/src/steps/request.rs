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
}
