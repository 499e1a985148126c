//! Control commands for connected workers (Admin.ControlWorkers): sent down their sessions,
//! answered on them, collected here with a deadline. Soft state, like the sessions themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

/// A command for workers, checked by the service layer (names, counts, durations); what only a
/// worker can judge, it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerCommand {
    /// Answer at once.
    Ping,
    /// Shut down warm.
    Shutdown,
    /// New time limits for a task type, for attempts that start from now on.
    TimeLimit {
        /// The task name.
        task_name: String,
        /// The hard limit, in ms (at least 1).
        hard_ms: u64,
        /// The soft limit, in ms, at most `hard_ms`; `None` leaves the worker's default.
        soft_ms: Option<u64>,
    },
    /// Take tasks from one more queue.
    AddConsumer(String),
    /// Take no new task from a queue.
    CancelConsumer(String),
    /// Add this many slots.
    PoolGrow(u32),
    /// Remove this many slots.
    PoolShrink(u32),
    /// A command the worker's code registered.
    Custom {
        /// Its name.
        name: String,
        /// Its arguments.
        args: BTreeMap<String, String>,
    },
}

/// A command as a session sends it to its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// Ties the worker's answer to the request.
    pub request_id: u64,
    /// What to do.
    pub command: WorkerCommand,
}

/// A worker's answer, or why there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReply {
    /// The worker.
    pub worker_id: String,
    /// Whether it did what was asked.
    pub ok: bool,
    /// What it said, or why there is no answer.
    pub message: String,
    /// Facts it reported.
    pub details: BTreeMap<String, String>,
    /// From sending to the answer, in ms; 0 without one.
    pub latency_ms: u64,
}

/// Commands a session's queue holds before it counts as unable to take more.
const SESSION_QUEUE: usize = 16;

/// A reply on its way to the request that waits for it.
type Answer = (String, WorkerReply);

/// Routes commands to open sessions and their answers back.
#[derive(Debug, Default)]
pub struct ControlRouter {
    next_request: AtomicU64,
    /// Open sessions by session number: the worker and where its commands go.
    sessions: Mutex<HashMap<u64, (String, mpsc::Sender<ControlRequest>)>>,
    /// Requests waiting for answers, by request id.
    pending: Mutex<HashMap<u64, mpsc::UnboundedSender<Answer>>>,
}

impl ControlRouter {
    /// Registers an open session of `worker_id`; its commands arrive on the receiver.
    pub fn attach(&self, session_no: u64, worker_id: &str) -> mpsc::Receiver<ControlRequest> {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        self.sessions
            .lock()
            .insert(session_no, (worker_id.to_string(), tx));
        rx
    }

    /// Forgets a closed session.
    pub fn detach(&self, session_no: u64) {
        self.sessions.lock().remove(&session_no);
    }

    /// Hands a worker's answer to the request waiting for it; a late one is dropped.
    pub fn answer(&self, worker_id: &str, request_id: u64, reply: WorkerReply) {
        if let Some(sink) = self.pending.lock().get(&request_id) {
            let _ = sink.send((worker_id.to_string(), reply));
        }
    }

    /// Sends `command` to the workers named (every connected one when `worker_ids` is empty)
    /// and collects their answers for up to `timeout`. Every worker asked gets a reply,
    /// sorted by worker id: its answer, or why there is none.
    pub async fn send(
        &self,
        worker_ids: &[String],
        command: WorkerCommand,
        timeout: Duration,
    ) -> Vec<WorkerReply> {
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        let (sink, mut answers) = mpsc::unbounded_channel();
        self.pending.lock().insert(request_id, sink);
        let request = ControlRequest {
            request_id,
            command,
        };
        let named: BTreeSet<&str> = worker_ids.iter().map(String::as_str).collect();
        let targets: Vec<(String, mpsc::Sender<ControlRequest>)> = self
            .sessions
            .lock()
            .values()
            .filter(|(id, _)| named.is_empty() || named.contains(id.as_str()))
            .cloned()
            .collect();
        let mut replies: BTreeMap<String, WorkerReply> = BTreeMap::new();
        let no_answer = |worker_id: &str, message: String| WorkerReply {
            worker_id: worker_id.to_string(),
            message,
            ..WorkerReply::default()
        };
        for id in &named {
            if !targets.iter().any(|(target, _)| target == id) {
                replies.insert(
                    (*id).to_string(),
                    no_answer(id, "not connected to this broker".into()),
                );
            }
        }
        let mut waiting = BTreeSet::new();
        for (worker_id, session) in targets {
            if session.try_send(request.clone()).is_ok() {
                waiting.insert(worker_id);
            } else {
                let busy = no_answer(
                    &worker_id,
                    "its session is closing or not keeping up".into(),
                );
                replies.insert(worker_id, busy);
            }
        }
        let sent = tokio::time::Instant::now();
        let deadline = tokio::time::sleep_until(sent + timeout);
        tokio::pin!(deadline);
        while !waiting.is_empty() {
            tokio::select! {
                Some((worker_id, mut reply)) = answers.recv() => {
                    if waiting.remove(&worker_id) {
                        reply.worker_id.clone_from(&worker_id);
                        reply.latency_ms =
                            u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
                        replies.insert(worker_id, reply);
                    }
                }
                () = &mut deadline => break,
            }
        }
        self.pending.lock().remove(&request_id);
        for worker_id in waiting {
            let late = no_answer(&worker_id, format!("no answer within {timeout:?}"));
            replies.insert(worker_id, late);
        }
        replies.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_collected_and_silence_and_absence_are_reported() {
        let router = std::sync::Arc::new(ControlRouter::default());
        let mut alive = router.attach(1, "alive");
        let _silent = router.attach(2, "silent");
        let answering = router.clone();
        tokio::spawn(async move {
            while let Some(request) = alive.recv().await {
                let reply = WorkerReply {
                    ok: true,
                    message: "pong".into(),
                    ..WorkerReply::default()
                };
                answering.answer("alive", request.request_id, reply);
            }
        });
        let names = ["alive", "gone", "silent"].map(String::from);
        let replies = router
            .send(&names, WorkerCommand::Ping, Duration::from_millis(200))
            .await;
        let summary: Vec<(&str, bool, &str)> = replies
            .iter()
            .map(|r| (r.worker_id.as_str(), r.ok, r.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("alive", true, "pong"),
                ("gone", false, "not connected to this broker"),
                ("silent", false, "no answer within 200ms"),
            ]
        );
        router.detach(2);
        let all = router
            .send(&[], WorkerCommand::Ping, Duration::from_millis(200))
            .await;
        assert_eq!(all.len(), 1, "only attached sessions are asked: {all:?}");
    }
}
