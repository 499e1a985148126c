//! The broker's worker sessions as a whole: the open ones (for listings and control), and the
//! running leases of workers whose session broke, kept for the reconnect grace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::control::ControlRouter;

/// A lease a session holds: pushed (not started) or running.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) task_id: String,
    pub(super) started: bool,
    /// The lease length once started.
    pub(super) run_lease_ms: u64,
}

/// Leases by lease id.
pub(super) type HeldLeases = HashMap<u64, Held>;

/// The broker's worker sessions: the open ones (for listing), and the running leases of
/// workers whose session broke, kept for the reconnect grace so the same worker can take them
/// back. Soft state: a broker restart makes every task ready anyway.
#[derive(Debug, Default)]
pub struct SessionRegistry {
    /// Per worker id: the generation the leases were kept at, and the leases.
    by_worker: Mutex<HashMap<String, (u64, HeldLeases)>>,
    pub(super) generation: AtomicU64,
    pub(super) open: AtomicUsize,
    /// Open sessions by session number, for listing workers.
    pub(super) live: Mutex<HashMap<u64, Live>>,
    /// Control commands to the open sessions.
    pub(super) control: ControlRouter,
}

/// An open session, as listed.
#[derive(Debug)]
pub(super) struct Live {
    pub(super) info: WorkerInfo,
    pub(super) held: Arc<Mutex<HeldLeases>>,
}

/// A connected worker session, as the broker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's id.
    pub worker_id: String,
    /// Its host.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// Queues it takes tasks from.
    pub queues: Vec<String>,
    /// Task names it runs.
    pub task_names: Vec<String>,
    /// Its SDK.
    pub sdk_version: String,
    /// When the session opened, unix ms.
    pub connected_ms: u64,
    /// When the worker last sent anything, unix ms.
    pub last_seen_ms: u64,
    /// (task id, lease id, started) of the tasks it holds.
    pub tasks: Vec<(String, u64, bool)>,
    /// Attempts it completed (acked) in this session.
    pub processed: u64,
}

impl SessionRegistry {
    /// The workers connected now, sorted by worker id, with the tasks each holds.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let live = self.live.lock();
        let mut workers: Vec<WorkerInfo> = live
            .values()
            .map(|session| {
                let mut info = session.info.clone();
                let mut tasks: Vec<(String, u64, bool)> = session
                    .held
                    .lock()
                    .iter()
                    .map(|(lease, held)| (held.task_id.clone(), *lease, held.started))
                    .collect();
                tasks.sort();
                info.tasks = tasks;
                info
            })
            .collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        workers
    }

    /// Routes control commands to the open sessions.
    pub fn control(&self) -> &ControlRouter {
        &self.control
    }

    /// Sessions open right now.
    pub fn open_sessions(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Forgets the running leases kept for workers that were cut off: the broker reopened its
    /// store, so those leases ended, as after a restart (the grace timers then find nothing).
    pub fn forget_kept(&self) {
        self.by_worker.lock().clear();
    }

    pub(super) fn keep(&self, worker_id: &str, held: HashMap<u64, Held>) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        self.by_worker
            .lock()
            .insert(worker_id.to_string(), (generation, held));
        generation
    }

    pub(super) fn adopt(&self, worker_id: &str) -> HashMap<u64, Held> {
        self.by_worker
            .lock()
            .remove(worker_id)
            .map(|(_, held)| held)
            .unwrap_or_default()
    }

    /// One kept lease of `worker_id`, taken back by a newer session of the same worker.
    pub(super) fn adopt_lease(&self, worker_id: &str, lease_id: u64) -> Option<Held> {
        self.by_worker
            .lock()
            .get_mut(worker_id)
            .and_then(|(_, held)| held.remove(&lease_id))
    }

    /// The leases kept at `generation`, unless the worker took them back since.
    pub(super) fn expire(&self, worker_id: &str, generation: u64) -> Option<HashMap<u64, Held>> {
        let mut by_worker = self.by_worker.lock();
        match by_worker.get(worker_id) {
            Some((kept, _)) if *kept == generation => by_worker.remove(worker_id).map(|(_, h)| h),
            _ => None,
        }
    }
}
