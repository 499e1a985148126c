//! Bulk changes to a queue: purging its waiting tasks or its dead letters, and replaying dead
//! letters.

use std::collections::VecDeque;

use super::command::{Outcome, Reply, Timer};
use super::ctx::Ctx;
use super::task::TaskState;
use super::task_id::TaskId;
use super::transitions::Change;
use super::Engine;

impl Engine {
    pub(super) fn purge(&mut self, queue: &str, dead_letters: bool, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Purged(0));
        let Some(q) = self.queues.get_mut(queue) else {
            return out;
        };
        let doomed: Vec<u64> = if dead_letters {
            q.dead.iter().copied().collect()
        } else {
            let mut keys: Vec<u64> = q.ready.iter().flatten().map(|&(_, key)| key).collect();
            keys.extend(q.parked.iter().map(|&(_, _, key)| key));
            for lane in &mut q.ready {
                *lane = VecDeque::new();
            }
            keys.extend(
                self.timers
                    .after(Timer::Due, (0, 0))
                    .map(|&(_, key)| key)
                    .filter(|key| self.tasks.get(key).is_some_and(|m| &*m.queue == queue)),
            );
            keys.retain(|key| self.tasks.get(key).is_some_and(|m| m.state.is_waiting()));
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        for &key in &doomed {
            self.delete(key, ctx, &mut out);
        }
        out.reply = Reply::Purged(doomed.len() as u64);
        out
    }

    pub(super) fn replay(
        &mut self,
        queue: &str,
        ids: &[String],
        limit: usize,
        ctx: Ctx,
    ) -> Outcome {
        let mut out = Outcome::new(Reply::Replayed(Vec::new()));
        let Some(q) = self.queues.get(queue) else {
            return out;
        };
        let keys: Vec<u64> = if ids.is_empty() {
            q.dead.iter().copied().take(limit).collect()
        } else {
            ids.iter()
                .filter_map(|id| self.ids.get(id, &self.tasks))
                .filter(|key| q.dead.contains(key))
                .take(limit)
                .collect()
        };
        let mut replayed: Vec<TaskId> = Vec::with_capacity(keys.len());
        for (i, &key) in keys.iter().enumerate() {
            let Some(meta) = self.tasks.get_mut(&key) else {
                continue;
            };
            if let Some(unique) = meta.unique_key() {
                // A unique key stays unique: while another live task holds it (enqueued after
                // this one failed), this one stays a dead letter and is not in the reply.
                let holder = self
                    .unique
                    .entry((meta.queue.clone(), unique.clone()))
                    .or_insert(key);
                if *holder != key {
                    continue;
                }
            }
            if let Some(cold) = meta.cold.as_deref_mut() {
                cold.retries_used = 0;
            }
            replayed.push(meta.id.clone());
            let change = Change {
                ready_seq: Some(ctx.sub_id(i)),
                ..Change::default()
            };
            self.transition(key, TaskState::Ready, change, ctx, &mut out);
        }
        out.reply = Reply::Replayed(replayed);
        out
    }
}
