//! The `async` and `threads` pools: attempts run in this process.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::attempt::{call, limited};
use super::job::{Done, Ending, Job};
use crate::context::TaskContext;
use crate::error::TaskError;
use crate::registry::Registry;
use crate::resources::Resources;

/// Runs attempts as tokio tasks, every handler on a blocking thread when `threads`.
#[derive(Debug)]
pub(crate) struct LocalPool {
    registry: Registry,
    threads: bool,
    resources: Resources,
    done: mpsc::UnboundedSender<Done>,
}

impl LocalPool {
    pub(crate) fn new(
        registry: Registry,
        threads: bool,
        resources: Resources,
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        Self {
            registry,
            threads,
            resources,
            done,
        }
    }

    pub(crate) fn submit(&self, job: Job) -> CancellationToken {
        let stop = CancellationToken::new();
        let done = self.done.clone();
        let handler = self.registry.get(&job.name);
        let threads = self.threads;
        let resources = self.resources.clone();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let result = match handler {
                Some(handler) => {
                    let soft_limit = CancellationToken::new();
                    let ctx = TaskContext {
                        task_id: job.task_id.clone(),
                        attempt: job.attempt,
                        soft_limit: soft_limit.clone(),
                        resources,
                    };
                    let attempt = limited(
                        call(handler, job.payload, ctx, threads),
                        job.time_limits,
                        soft_limit,
                    );
                    tokio::select! {
                        result = attempt => result,
                        () = stopped.cancelled() => return,
                    }
                }
                None => Err(TaskError::fatal(
                    "UnknownTask",
                    format!("no handler for task {:?}", job.name),
                )),
            };
            let _ = done.send(Done {
                task_id: job.task_id,
                lease_id: job.lease_id,
                ending: Ending::Finished(result.map_err(|e| job.policy.apply(e))),
            });
        });
        stop
    }
}
