//! The rebuild after a restart: every index from the stored tasks.

use super::task::{TaskMeta, TaskState};
use super::transitions::index;
use super::{Engine, EngineConfig, Verdict};

impl Engine {
    /// Rebuilds the engine from stored tasks (in any order). A task that was LEASED when the
    /// broker stopped is READY again at its old place in the ready order: its attempt is lost
    /// and it will be delivered again (at least once).
    pub fn recover(config: EngineConfig, stored: impl IntoIterator<Item = TaskMeta>) -> Self {
        let mut engine = Self::new(config);
        for mut meta in stored {
            // A step whose last input was stored before the crash, but not its release.
            let released = meta.state == TaskState::Waiting
                && meta
                    .cold()
                    .flow
                    .as_ref()
                    .is_some_and(|f| f.verdict() == Verdict::Release);
            if released {
                meta.state = TaskState::Ready;
            }
            if meta.state == TaskState::Leased {
                meta.state = TaskState::Ready;
                meta.due_ms = 0;
                if let Some(cold) = meta.cold.as_deref_mut() {
                    cold.lease_id = 0;
                }
            }
            meta.name = engine.intern_name(&meta.name);
            let (queue, _) = engine.queues.entry(&meta.queue);
            meta.queue = queue;
            engine.ids.insert(&meta.id, meta.key);
            if let (Some(unique), false) = (meta.unique_key(), meta.state.is_terminal()) {
                engine
                    .unique
                    .insert((meta.queue.clone(), unique.clone()), meta.key);
            }
            let mut moved = 0;
            index(&mut engine.queues, &mut engine.timers, &meta, &mut moved);
            engine.tasks.insert(meta.key, Box::new(meta));
        }
        for queue in engine.queues.by_name.values_mut() {
            for lane in &mut queue.ready {
                lane.make_contiguous().sort_unstable();
            }
        }
        engine
    }
}
