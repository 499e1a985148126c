//! What a broker call can fail with.

use std::sync::Arc;

use crate::engine::EngineError;
use crate::store::StoreError;

/// Why a broker call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The engine refused the command.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A read from the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker is shutting down.
    #[error("broker shutting down; retry against another broker or after restart")]
    ShuttingDown,
    /// An earlier failure left the broker unable to take writes.
    #[error("the broker stopped taking writes after a failure")]
    Failed(#[source] Failure),
    /// The engine answered a command with a reply of another command: a bug in the broker,
    /// reported instead of guessed around.
    #[error("internal error: the engine answered {command} with {reply}")]
    UnexpectedReply {
        /// The command sent.
        command: &'static str,
        /// The reply received, for the bug report.
        reply: String,
    },
}

/// Why the broker stopped taking writes: until the store is reopened for a store I/O failure
/// (see [`Broker::reopen`](super::Broker::reopen)), until restarted for the others.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// A write or a flush failed, so nothing after it is known durable.
    #[error("a storage write or flush failed")]
    Store(#[source] Arc<StoreError>),
    /// A background driver failed.
    #[error("the {driver} driver failed")]
    Driver {
        /// Which driver, e.g. `Lease`.
        driver: String,
        /// Its error.
        #[source]
        cause: Arc<BrokerError>,
    },
}

impl BrokerError {
    /// A reply that does not belong to `command`.
    pub(crate) fn unexpected(command: &'static str, reply: &crate::engine::Reply) -> Self {
        let mut reply = format!("{reply:?}");
        if let Some((cut, _)) = reply.char_indices().nth(200) {
            reply.truncate(cut);
            reply.push('…');
        }
        Self::UnexpectedReply { command, reply }
    }
}

/// An error and its causes in one line, outermost first: "a: b: c".
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
