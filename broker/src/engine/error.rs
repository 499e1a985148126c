//! What the engine refuses, and why.

/// A command the engine refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No task with this id is known (never enqueued, or its result expired).
    #[error("no task with id {id:?}: it was never enqueued or its result has expired")]
    TaskNotFound {
        /// The id asked for.
        id: String,
    },
    /// No schedule has this name.
    #[error("no schedule named {name:?}")]
    ScheduleNotFound {
        /// The name asked for.
        name: String,
    },
    /// No limit has this scope and header (when removing one).
    #[error("no limit {limit}")]
    LimitNotFound {
        /// The limit asked for, e.g. `queue:mail per tenant`.
        limit: String,
    },
    /// The lease named is not the task's current lease.
    #[error("lease {lease_id} of task {id:?} is not current: {why}")]
    StaleLease {
        /// Task id.
        id: String,
        /// The lease named.
        lease_id: u64,
        /// What happened instead, e.g. "the lease expired and the task was leased again".
        why: String,
    },
    /// A bounded table is full.
    #[error("too many {what}: at most {limit} are kept; wait for some to expire")]
    Full {
        /// What is full.
        what: &'static str,
        /// Its bound.
        limit: usize,
    },
    /// A field is invalid in a way only the engine can see (e.g. a time in the past).
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}
