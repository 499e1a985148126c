//! Task names to handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::TaskContext;
use crate::error::TaskError;
use crate::policy::RetryPolicy;

/// A boxed handler: payload bytes and the attempt's context in, result bytes (JSON) out.
pub(crate) type Handler = Arc<
    dyn Fn(Vec<u8>, TaskContext) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, TaskError>> + Send>>
        + Send
        + Sync,
>;

/// Time limits of one task type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) soft: Option<Duration>,
    pub(crate) hard: Option<Duration>,
}

/// The handlers a worker can run, by task name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
    limits: HashMap<String, Limits>,
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
        let boxed: Handler = Arc::new(move |payload: Vec<u8>, ctx: TaskContext| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: A = serde_json::from_slice(&payload).map_err(|e| {
                    TaskError::fatal("PayloadError", format!("cannot decode the arguments: {e}"))
                })?;
                let result = handler(args, ctx).await?;
                serde_json::to_vec(&result).map_err(|e| {
                    TaskError::fatal("ResultError", format!("cannot encode the result: {e}"))
                })
            })
        });
        self.handlers.insert(name.into(), boxed);
    }

    /// Sets the time limits of task type `name`; they override the worker's and are overridden
    /// by a task's own.
    pub fn time_limits(
        &mut self,
        name: impl Into<String>,
        soft: Option<Duration>,
        hard: Option<Duration>,
    ) {
        self.limits.insert(name.into(), Limits { soft, hard });
    }

    /// The time limits of task type `name`.
    pub(crate) fn limits(&self, name: &str) -> Limits {
        self.limits.get(name).copied().unwrap_or_default()
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
