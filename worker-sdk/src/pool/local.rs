//! The `async` and `threads` pools: attempts run in this process.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::{call, limited, runs_on_thread};
use super::job::{Done, Ending, Job};
use crate::context::{Handoff, TaskContext};
use crate::error::TaskError;
use crate::registry::{Handler, Registry};
use crate::resources::Resources;

/// Runs attempts as tokio tasks, every handler on a blocking thread when `threads`.
#[derive(Debug)]
pub(crate) struct LocalPool {
    registry: Registry,
    threads: bool,
    resources: Resources,
    done: mpsc::UnboundedSender<Done>,
    /// One permit per slot, held while a handler's code runs. The session counts slots too,
    /// but it forgets an attempt it gave up (a lost lease); a thread it gave up runs on, and
    /// holds its permit until it returns, so no more handlers run at once than there are slots.
    slots: Arc<Semaphore>,
}

impl LocalPool {
    pub(crate) fn new(
        registry: Registry,
        threads: bool,
        slots: u32,
        resources: Resources,
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        let slots = usize::try_from(slots).unwrap_or(usize::MAX);
        Self {
            registry,
            threads,
            resources,
            done,
            slots: Arc::new(Semaphore::new(slots.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Adds `slots` permits.
    pub(crate) fn grow(&self, slots: u32) {
        let slots = usize::try_from(slots).unwrap_or(usize::MAX);
        let room = Semaphore::MAX_PERMITS.saturating_sub(self.slots.available_permits());
        self.slots.add_permits(slots.min(room));
    }

    /// Takes `slots` permits away for good, as running attempts give them back: one that runs
    /// keeps its permit until it returns.
    pub(crate) fn shrink(&self, slots: u32) {
        let semaphore = self.slots.clone();
        tokio::spawn(async move {
            // The semaphore is never closed, so this waits and never fails.
            if let Ok(permits) = semaphore.acquire_many_owned(slots).await {
                permits.forget();
            }
        });
    }

    pub(crate) fn submit(&self, job: Job) -> CancellationToken {
        let stop = CancellationToken::new();
        let done = self.done.clone();
        let handler = self
            .registry
            .get(&job.meta.name)
            .map(|handler| crate::mapping::for_task(handler, &job.meta));
        let (threads, resources) = (self.threads, self.resources.clone());
        let (stopped, slots) = (stop.clone(), self.slots.clone());
        let span = crate::trace::task_span(&job.meta);
        let attempt = async move {
            let started = Instant::now();
            let (result, handoff) = match handler {
                Some(Err(refused)) => (Err(refused), Handoff::default()),
                Some(Ok(handler)) => {
                    let attempt = run(handler, &job, threads, resources, slots);
                    tokio::select! {
                        ran = attempt => ran,
                        () = stopped.cancelled() => return,
                    }
                }
                None => (
                    Err(TaskError::fatal(
                        "UnknownTask",
                        format!("no handler for task {:?}", job.meta.name),
                    )),
                    Handoff::default(),
                ),
            };
            let _ = done.send(Done {
                lease_id: job.lease_id,
                ending: Ending::Finished(result.map_err(|e| job.policy.apply(e))),
                meta: job.meta,
                handoff,
                elapsed: started.elapsed(),
            });
        };
        tokio::spawn(attempt.instrument(span));
        stop
    }
}

/// Runs `job` with `handler` once a slot is free, under the job's time limits; answers its
/// result and what it handed on.
async fn run(
    handler: Handler,
    job: &Job,
    threads: bool,
    resources: Resources,
    slots: Arc<Semaphore>,
) -> (Result<Vec<u8>, TaskError>, Handoff) {
    // The semaphore is never closed, so this waits for a permit and never fails.
    let slot = slots.acquire_owned().await.ok();
    let soft_limit = CancellationToken::new();
    let handoff = Arc::default();
    let ctx = TaskContext {
        meta: job.meta.clone(),
        soft_limit: soft_limit.clone(),
        resources,
        handoff: Arc::clone(&handoff),
    };
    let on_thread = runs_on_thread(&handler, threads);
    let attempt = call(handler, job.payload.clone(), ctx, on_thread, slot);
    let result = limited(attempt, job.time_limits, soft_limit, on_thread).await;
    (result, Handoff::take(&handoff))
}
