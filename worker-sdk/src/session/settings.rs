//! What a session runs with: the worker's settings, as the broker and the attempts see them.

use std::sync::Arc;
use std::time::Duration;

use stalk_proto::v1 as pb;

use crate::context::TaskMeta;
use crate::identity::{hostname, SDK_VERSION};
use crate::metrics::WorkerMetrics;
use crate::policy::RetryPolicy;
use crate::pool::Job;
use crate::registry::Registry;
use crate::time::{millis, TimeLimits};

/// The settings of a connected worker that its sessions use.
#[derive(Debug)]
pub(crate) struct SessionSettings {
    pub(crate) worker_id: String,
    /// `Bearer <token>`, sent on the session when the broker needs it.
    pub(crate) authorization: Option<tonic::metadata::AsciiMetadataValue>,
    /// The queues and slots the worker starts with; control commands change the session's.
    pub(crate) queues: Vec<String>,
    pub(crate) concurrency: u32,
    pub(crate) prefetch: u32,
    pub(crate) prefetch_lease: Duration,
    pub(crate) lease_duration: Duration,
    pub(crate) shutdown_timeout: Duration,
    /// The worker's defaults; a task type's and a task's own override them.
    pub(crate) time_limits: TimeLimits,
    /// The worker's; a task type's own replaces it.
    pub(crate) policy: RetryPolicy,
    pub(crate) registry: Registry,
    /// What the session counts; off unless the worker serves `/metrics`.
    pub(crate) metrics: WorkerMetrics,
}

impl SessionSettings {
    /// The first message of every session, naming the queues the worker takes from now (as
    /// control commands left them).
    pub(crate) fn hello(&self, queues: &[String]) -> pb::Hello {
        pb::Hello {
            worker_id: self.worker_id.clone(),
            hostname: hostname(),
            pid: std::process::id(),
            queues: queues.to_vec(),
            task_names: self.registry.names(),
            sdk_version: SDK_VERSION.into(),
            lease_duration_ms: millis(self.lease_duration),
            prefetch_lease_ms: millis(self.prefetch_lease),
        }
    }

    /// The attempt to run for a pushed task, under its time limits and retry policy.
    pub(crate) fn job(&self, task: pb::LeasedTask) -> Job {
        let time_limits = self.time_limits_of(&task);
        let policy = self
            .registry
            .policy(&task.name)
            .unwrap_or(&self.policy)
            .clone();
        Job {
            lease_id: task.lease_id,
            meta: Arc::new(TaskMeta::from_leased(&task)),
            payload: task.payload,
            time_limits,
            policy,
        }
    }

    /// A task's time limits: its own, else its type's, else the worker's.
    fn time_limits_of(&self, task: &pb::LeasedTask) -> TimeLimits {
        let own = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        let by_type = self.registry.time_limits_of(&task.name);
        TimeLimits {
            soft: own(task.soft_time_limit_ms)
                .or(by_type.soft)
                .or(self.time_limits.soft),
            hard: own(task.time_limit_ms)
                .or(by_type.hard)
                .or(self.time_limits.hard),
        }
    }
}
