//! Task names to handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::TaskContext;
use crate::error::TaskError;
use crate::policy::RetryPolicy;
use crate::time::TimeLimits;

/// An async handler, boxed: payload bytes and the attempt's context in, result bytes (JSON) out.
pub(crate) type AsyncHandler = Arc<
    dyn Fn(Bytes, TaskContext) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TaskError>> + Send>>
        + Send
        + Sync,
>;

/// A blocking handler, boxed: it runs on a thread of its own, never on the async runtime.
pub(crate) type BlockingHandler =
    Arc<dyn Fn(Bytes, TaskContext) -> Result<Vec<u8>, TaskError> + Send + Sync>;

/// A registered handler.
#[derive(Clone)]
pub(crate) enum Handler {
    /// Runs as a future.
    Async(AsyncHandler),
    /// Runs on a blocking thread.
    Blocking(BlockingHandler),
}

/// Decodes a task's JSON arguments; a payload that does not decode is a fatal error.
///
/// A task sent with no payload at all (`stalk enqueue report`, a schedule without arguments)
/// decodes as JSON `null` (so `()` and `Option<T>` handlers run) or, failing that, as `{}` (a
/// map, or a struct whose fields all have defaults).
fn decode<A: DeserializeOwned>(payload: &[u8]) -> Result<A, TaskError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"null")
            .or_else(|_| serde_json::from_slice(b"{}"))
            .map_err(|e| {
                TaskError::fatal(
                    "PayloadError",
                    format!(
                        "the task has no payload, and this handler's arguments need one \
                         (as null: {e}); send them as JSON"
                    ),
                )
            });
    }
    serde_json::from_slice(payload)
        .map_err(|e| TaskError::fatal("PayloadError", format!("cannot decode the arguments: {e}")))
}

/// Encodes a handler's result as JSON.
fn encode<R: Serialize>(result: &R) -> Result<Vec<u8>, TaskError> {
    serde_json::to_vec(result)
        .map_err(|e| TaskError::fatal("ResultError", format!("cannot encode the result: {e}")))
}

/// The handlers a worker can run, by task name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
    /// Shared by every clone (the session's, the control step's), so a `time_limit` control
    /// command changes what later attempts run under. A parking_lot lock: read once per
    /// attempt, written by a rare command, never held across an await.
    time_limits: Arc<RwLock<HashMap<String, TimeLimits>>>,
    policies: HashMap<String, RetryPolicy>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("tasks", &names).finish()
    }
}

impl Registry {
    /// Registers an async handler for `name`: its argument is the task's JSON payload, its
    /// result is sent back as JSON. A payload that does not decode is a fatal error.
    pub fn task<A, R, F, Fut>(&mut self, name: impl Into<String>, handler: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        self.task_with_context(name, move |args: A, _ctx: TaskContext| handler(args));
    }

    /// Like [`Registry::task`], for a handler that also takes the attempt's [`TaskContext`]
    /// (its id, attempt number and soft time limit).
    pub fn task_with_context<A, R, F, Fut>(&mut self, name: impl Into<String>, handler: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: AsyncHandler = Arc::new(move |payload: Bytes, ctx: TaskContext| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: A = decode(&payload)?;
                encode(&handler(args, ctx).await?)
            })
        });
        self.handlers.insert(name.into(), Handler::Async(boxed));
    }

    /// Registers a blocking handler for `name` (JSON arguments and result): it runs on a
    /// thread, so it may do blocking I/O or long computations without stalling the worker.
    /// A thread cannot be stopped from outside: past the hard time limit the handler is told
    /// through [`TaskContext::is_past_soft_limit`] and keeps its slot until it returns, when the
    /// attempt fails as timed out. Use the prefork pool for handlers that must be killed.
    pub fn task_blocking<A, R, F>(&mut self, name: impl Into<String>, handler: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Result<R, TaskError> + Send + Sync + 'static,
    {
        self.task_blocking_with_context(name, move |args: A, _ctx: TaskContext| handler(args));
    }

    /// Like [`Registry::task_blocking`], for a handler that also takes the attempt's
    /// [`TaskContext`].
    pub fn task_blocking_with_context<A, R, F>(&mut self, name: impl Into<String>, handler: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A, TaskContext) -> Result<R, TaskError> + Send + Sync + 'static,
    {
        let boxed: BlockingHandler = Arc::new(move |payload: Bytes, ctx: TaskContext| {
            encode(&handler(decode(&payload)?, ctx)?)
        });
        self.handlers.insert(name.into(), Handler::Blocking(boxed));
    }

    /// Sets the time limits of task type `name`; they override the worker's and are overridden
    /// by a task's own.
    pub fn time_limits(
        &mut self,
        name: impl Into<String>,
        soft: Option<Duration>,
        hard: Option<Duration>,
    ) {
        self.time_limits
            .write()
            .insert(name.into(), TimeLimits { soft, hard });
    }

    /// Replaces the time limits of task type `name` for attempts that start from now on (a
    /// `time_limit` control command); false, and nothing changed, when `name` has no handler.
    pub(crate) fn change_time_limits(&self, name: &str, limits: TimeLimits) -> bool {
        if !self.contains(name) {
            return false;
        }
        self.time_limits.write().insert(name.to_string(), limits);
        true
    }

    /// The time limits of task type `name`.
    pub(crate) fn time_limits_of(&self, name: &str) -> TimeLimits {
        self.time_limits
            .read()
            .get(name)
            .copied()
            .unwrap_or_default()
    }

    /// Sets the retry policy of task type `name`; it replaces the worker's for that type.
    pub fn retry_policy(&mut self, name: impl Into<String>, policy: RetryPolicy) {
        self.policies.insert(name.into(), policy);
    }

    /// The retry policy of task type `name`, if it has its own.
    pub(crate) fn policy(&self, name: &str) -> Option<&RetryPolicy> {
        self.policies.get(name)
    }

    /// The handler for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Handler> {
        self.handlers.get(name).cloned()
    }

    /// Whether `name` has a handler.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Registered task names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}
