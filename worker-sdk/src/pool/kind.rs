//! Which pool a worker runs (a setting), and when a prefork child is replaced.

use std::time::Duration;

/// Where a worker runs its attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolKind {
    /// Tokio tasks on the worker's runtime; blocking handlers on blocking threads. The default:
    /// the fastest, for I/O-bound async handlers.
    #[default]
    Async,
    /// Every handler on a thread of its own, so CPU-heavy or blocking code never stalls the
    /// runtime. A thread cannot be killed: past the hard time limit the handler is told (its
    /// context says it is past its limit) and keeps its slot until it returns; the attempt then
    /// fails as `TimeLimitExceeded`, saying the thread could not be stopped. Use `Prefork` for
    /// a hard limit that stops blocking code.
    Threads,
    /// One child process of the worker binary per slot, each running one task at a time. A
    /// child is killed at the hard time limit or memory limit and replaced after a number of
    /// tasks, past a memory limit or an age, so leaks and crashes stay contained.
    Prefork,
}

/// When a prefork child is replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildLimits {
    /// Replace a child after it ran this many tasks.
    pub max_tasks: Option<u32>,
    /// Replace a child after its current task once its RSS passes this many bytes.
    pub max_memory: Option<u64>,
    /// Kill a child at once when its RSS passes this many bytes; its attempt is lost.
    pub max_memory_hard: Option<u64>,
    /// Replace a child after its current task once it is this old.
    pub max_age: Option<Duration>,
}
