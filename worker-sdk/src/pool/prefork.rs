//! The parent side of the prefork pool: one supervisor per slot keeps a child process of the
//! worker binary, hands it one attempt at a time, watches its time and memory, and replaces it
//! when it dies or reaches a limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::frame::{self, ChildJob, ChildReply};
use super::job::{time_limit_exceeded, Done, Ending, Job};
use super::kind::ChildLimits;
use super::process::{describe, mib, rss_bytes};
use super::spawn::{spawn_child, ChildProc};
use crate::context::Handoff;
use crate::error::WorkerError;
use crate::metrics::{RecycleReason, WorkerMetrics};
use crate::time::millis;

/// How long a retiring child may take to exit after its socket closes, before it is killed.
const CHILD_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a busy child's memory is read.
const MEMORY_CHECK: Duration = Duration::from_millis(50);
/// Far enough to stand for "no limit".
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Attempts waiting for a free child.
type Queue = mpsc::UnboundedReceiver<(Job, CancellationToken)>;

/// A pool of child processes.
#[derive(Debug)]
pub(crate) struct Prefork {
    jobs: mpsc::UnboundedSender<(Job, CancellationToken)>,
    stop: CancellationToken,
    shared: Arc<Shared>,
    /// One per slot, and those retiring; grown at runtime, hence the lock (a parking_lot one:
    /// held only to push or take, never across an await).
    supervisors: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

/// What the supervisors share.
#[derive(Debug)]
struct Shared {
    jobs: Mutex<Queue>,
    done: mpsc::UnboundedSender<Done>,
    limits: ChildLimits,
    stop: CancellationToken,
    spawned: AtomicU64,
    /// One permit per slot removed by a shrink and not yet given up: the next supervisor
    /// without an attempt takes one, ends its child and stops.
    surplus: Semaphore,
    /// Counts each child replaced, by why.
    metrics: WorkerMetrics,
}

/// What ended a child's wait for work.
enum Idle {
    Job(Option<Box<(Job, CancellationToken)>>),
    Died(Option<std::process::ExitStatus>),
    Old,
    Stop,
    /// The pool shrank: this slot goes.
    Surplus,
}

/// What ended an attempt in a child.
enum Busy {
    Replied(Box<ChildReply>),
    Died,
    TimedOut(Duration),
    OverMemory(u64, u64),
    Stopped,
}

impl Prefork {
    /// Starts `slots` children. The first is started before this returns, so a worker binary
    /// that cannot run as a child is a startup error, not a stream of failed restarts.
    pub(crate) async fn start(
        slots: u32,
        limits: ChildLimits,
        done: mpsc::UnboundedSender<Done>,
        metrics: WorkerMetrics,
    ) -> Result<Self, WorkerError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            jobs: Mutex::new(queue),
            done,
            limits,
            stop: stop.clone(),
            spawned: AtomicU64::new(0),
            surplus: Semaphore::new(0),
            metrics,
        });
        let first = spawn_child(shared.spawned.fetch_add(1, Ordering::Relaxed))
            .await
            .map_err(WorkerError::Pool)?;
        let mut first = Some(first);
        let supervisors = (0..slots)
            .map(|_| tokio::spawn(supervise(shared.clone(), first.take())))
            .collect();
        Ok(Self {
            jobs,
            stop,
            shared,
            supervisors: parking_lot::Mutex::new(supervisors),
        })
    }

    /// Adds `slots` children: a shrink not yet done is undone first, the rest are started (in
    /// the background: each supervisor starts its child, retrying as after a crash).
    pub(crate) fn grow(&self, slots: u32) {
        let wanted = usize::try_from(slots).unwrap_or(usize::MAX);
        let undone = self.shared.surplus.forget_permits(wanted);
        let mut supervisors = self.supervisors.lock();
        supervisors.retain(|supervisor| !supervisor.is_finished());
        for _ in undone..wanted {
            supervisors.push(tokio::spawn(supervise(self.shared.clone(), None)));
        }
    }

    /// Removes `slots` children: each ends once it has no attempt, so a running one finishes.
    pub(crate) fn shrink(&self, slots: u32) {
        let slots = usize::try_from(slots).unwrap_or(usize::MAX);
        self.shared
            .surplus
            .add_permits(slots.min(Semaphore::MAX_PERMITS));
    }

    /// Queues an attempt for the next free child.
    pub(crate) fn submit(&self, job: Job) -> CancellationToken {
        let stop = CancellationToken::new();
        let _ = self.jobs.send((job, stop.clone()));
        stop
    }

    /// Ends every child (they finish nothing more: call once no attempt runs) and waits for
    /// them to exit.
    pub(crate) async fn close(self) {
        self.stop.cancel();
        let supervisors = std::mem::take(&mut *self.supervisors.lock());
        for supervisor in supervisors {
            let _ = supervisor.await;
        }
    }
}

impl Drop for Prefork {
    /// A pool dropped without [`Prefork::close`] (its worker's task aborted) still stops its
    /// supervisors, whose children are killed on drop.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Keeps one slot's child: starts it, feeds it attempts, replaces it.
async fn supervise(shared: Arc<Shared>, mut child: Option<ChildProc>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut current = match child.take() {
            Some(current) => current,
            None => match spawn_child(shared.spawned.fetch_add(1, Ordering::Relaxed)).await {
                Ok(current) => {
                    backoff = Duration::from_millis(100);
                    current
                }
                Err(cause) => {
                    tracing::error!(%cause, retry_in = ?backoff, "cannot start a prefork child");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shared.stop.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        let age_left = shared
            .limits
            .max_age
            .map_or(NEVER, |age| age.saturating_sub(current.born.elapsed()));
        let idle = tokio::select! {
            job = async { shared.jobs.lock().await.recv().await } => Idle::Job(job.map(Box::new)),
            status = current.process.wait() => Idle::Died(status.ok()),
            () = tokio::time::sleep(age_left) => Idle::Old,
            () = shared.stop.cancelled() => Idle::Stop,
            Ok(permit) = shared.surplus.acquire() => {
                permit.forget();
                Idle::Surplus
            }
        };
        match idle {
            Idle::Job(Some(queued)) if queued.1.is_cancelled() => {
                // Stopped before it started (a lost lease): nothing to report.
                child = Some(current);
            }
            Idle::Job(Some(queued)) => {
                let (job, stop) = *queued;
                if let Some(reason) = run_job(&shared, &mut current, job, stop).await {
                    match reason {
                        Some(reason) => {
                            tokio::spawn(retire(current, reason, true));
                        }
                        None => child = Some(current),
                    }
                }
            }
            Idle::Died(status) => {
                tracing::warn!(cause = %describe(current.pid, status), "an idle prefork child died; replacing it");
                shared.metrics.child_recycled(RecycleReason::Died);
            }
            Idle::Old => {
                let reason = age_reason(&shared.limits, &current).unwrap_or_default();
                shared.metrics.child_recycled(RecycleReason::MaxAge);
                tokio::spawn(retire(current, reason, true));
            }
            Idle::Surplus => {
                retire(current, "the pool shrank".into(), false).await;
                return;
            }
            Idle::Job(None) | Idle::Stop => {
                retire(current, "the worker is shutting down".into(), false).await;
                return;
            }
        }
    }
}

/// Runs one attempt in `child` and reports it. Returns `None` when the child is gone, else
/// whether it must be replaced now (and why).
async fn run_job(
    shared: &Shared,
    child: &mut ChildProc,
    job: Job,
    stop: CancellationToken,
) -> Option<Option<String>> {
    let Job {
        lease_id,
        meta,
        payload,
        time_limits,
        policy,
    } = job;
    let started = Instant::now();
    let task_id = meta.id.clone();
    let message = ChildJob {
        name: meta.name.clone(),
        payload,
        soft_limit_ms: time_limits.soft.map_or(0, |d| millis(d).max(1)),
        task: Some(meta.to_leased()),
    };
    let report = |ending: Ending, handoff: Handoff| {
        let _ = shared.done.send(Done {
            lease_id,
            meta: meta.clone(),
            ending,
            handoff,
            elapsed: started.elapsed(),
        });
    };
    let hard_limit = time_limits.hard.unwrap_or(NEVER);
    let (busy, over_memory) = attend(shared, child, &message, hard_limit, &stop).await;
    let pid = child.pid;
    match busy {
        Busy::Replied(mut reply) => {
            child.tasks += 1;
            let handoff = reply.take_handoff();
            report(
                Ending::Finished(reply.into_result().map_err(|e| policy.apply(e))),
                handoff,
            );
            let recycle = recycle_reason(&shared.limits, child, over_memory);
            Some(recycle.map(|(reason, why)| {
                shared.metrics.child_recycled(reason);
                why
            }))
        }
        Busy::Died => {
            let status = child.process.wait().await.ok();
            let cause = describe(pid, status);
            tracing::warn!(%cause, task = %task_id, "a prefork child died mid-task; replacing it");
            shared.metrics.child_recycled(RecycleReason::Died);
            report(Ending::Lost(cause), Handoff::default());
            None
        }
        Busy::TimedOut(limit) => {
            kill(child).await;
            tracing::warn!(pid, task = %task_id, reason = "hard time limit", "prefork child killed and replaced");
            shared.metrics.child_recycled(RecycleReason::TimeLimit);
            report(
                Ending::Finished(Err(policy.apply(time_limit_exceeded(limit)))),
                Handoff::default(),
            );
            None
        }
        Busy::OverMemory(rss, limit) => {
            kill(child).await;
            let cause = over_hard_memory(pid, rss, limit);
            tracing::warn!(pid, task = %task_id, reason = %cause, "prefork child killed and replaced");
            shared.metrics.child_recycled(RecycleReason::MaxMemoryHard);
            report(Ending::Lost(cause), Handoff::default());
            None
        }
        Busy::Stopped => {
            kill(child).await;
            shared.metrics.child_recycled(RecycleReason::Stopped);
            None
        }
    }
}

/// Sends `message` to `child` and waits for its reply, watching the hard time limit, the
/// memory limits and `stop`; also returns the memory the child was seen using past the soft
/// memory limit, if it was.
async fn attend(
    shared: &Shared,
    child: &mut ChildProc,
    message: &ChildJob,
    hard_limit: Duration,
    stop: &CancellationToken,
) -> (Busy, Option<u64>) {
    if frame::write(&mut child.writer, message).await.is_err() {
        return (Busy::Died, None);
    }
    let pid = child.pid;
    let mut over_memory = None;
    let watch_memory =
        shared.limits.max_memory.is_some() || shared.limits.max_memory_hard.is_some();
    let mut memory = tokio::time::interval(MEMORY_CHECK);
    let hard = tokio::time::sleep(hard_limit);
    // One read for the whole attempt: a frame half read when another branch wins is kept.
    let reply = frame::read::<ChildReply>(&mut child.reader);
    tokio::pin!(hard, reply);
    let busy = loop {
        tokio::select! {
            reply = &mut reply => break match reply {
                Ok(Some(reply)) => Busy::Replied(Box::new(reply)),
                _ => Busy::Died,
            },
            () = &mut hard => break Busy::TimedOut(hard_limit),
            () = stop.cancelled() => break Busy::Stopped,
            _ = memory.tick(), if watch_memory => {
                let Some(rss) = rss_bytes(pid) else { continue };
                if let Some(limit) = shared.limits.max_memory_hard.filter(|&l| rss > l) {
                    break Busy::OverMemory(rss, limit);
                }
                if shared.limits.max_memory.is_some_and(|l| rss > l) {
                    over_memory = Some(rss);
                }
            }
        }
    };
    (busy, over_memory)
}

/// The cause of an attempt whose child was killed for using `rss` bytes, over `limit`.
fn over_hard_memory(pid: u32, rss: u64, limit: u64) -> String {
    format!(
        "child process {pid} used {} of memory, over the hard limit of {} \
         (max-memory-per-child-hard), and was killed",
        mib(rss),
        mib(limit)
    )
}

/// Why a child that finished a task must be replaced now, if it must: the reason and the
/// sentence for the log.
fn recycle_reason(
    limits: &ChildLimits,
    child: &ChildProc,
    over_memory: Option<u64>,
) -> Option<(RecycleReason, String)> {
    if let Some(max) = limits.max_tasks.filter(|&max| child.tasks >= max) {
        return Some((
            RecycleReason::MaxTasks,
            format!("it ran {max} tasks (max-tasks-per-child)"),
        ));
    }
    if let Some(max) = limits.max_memory {
        let rss = rss_bytes(child.pid).or(over_memory).unwrap_or(0);
        if rss > max || over_memory.is_some() {
            return Some((
                RecycleReason::MaxMemory,
                format!(
                    "its memory reached {} (max-memory-per-child is {})",
                    mib(rss.max(over_memory.unwrap_or(0))),
                    mib(max)
                ),
            ));
        }
    }
    age_reason(limits, child).map(|why| (RecycleReason::MaxAge, why))
}

/// Why a child is too old, if it is.
fn age_reason(limits: &ChildLimits, child: &ChildProc) -> Option<String> {
    let max = limits.max_age?;
    (child.born.elapsed() >= max).then(|| format!("it is older than {max:?} (max-child-age)"))
}

/// Kills a child and reaps it.
async fn kill(child: &mut ChildProc) {
    let _ = child.process.start_kill();
    let _ = child.process.wait().await;
}

/// Ends a child that is done (`recycled` when another takes its place): closing its socket
/// makes it exit; one that does not is killed.
async fn retire(mut child: ChildProc, reason: String, recycled: bool) {
    if recycled {
        tracing::info!(pid = child.pid, tasks = child.tasks, %reason, "prefork child recycled");
    } else {
        tracing::debug!(pid = child.pid, tasks = child.tasks, %reason, "prefork child stopped");
    }
    drop(child.writer);
    if tokio::time::timeout(CHILD_EXIT_TIMEOUT, child.process.wait())
        .await
        .is_err()
    {
        let _ = child.process.start_kill();
        let _ = child.process.wait().await;
    }
}
