//! The index from task id to task key. Per task it stores the 8-byte key and 4 bytes of the
//! id's hash: ids are compared against the id the task itself holds, so no id is stored twice,
//! and the table grows without looking at a single task (at a million tasks, hashing each id
//! again through a lookup of its task held the engine for over half a second).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::task::TaskMeta;
use super::task_id::TaskId;

/// One indexed task. Packed: 12 bytes, not 16.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed)]
struct Entry {
    /// The high half of the id's hash.
    hash: u32,
    key: u64,
}

/// The table's hash of a stored half: its bits both low (for the bucket) and high (for the
/// table's control byte), so 32 bits serve tables of any size this broker can hold.
fn spread(half: u32) -> u64 {
    (u64::from(half) << 32) | u64::from(half)
}

/// Task keys, found by id.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    table: HashTable<Entry>,
    hasher: RandomState,
}

impl IdIndex {
    fn half(hash: u64) -> u32 {
        // The high half: the bits a good 64-bit hash mixes best.
        u32::try_from(hash >> 32).unwrap_or(u32::MAX)
    }

    /// The key of the task with this id.
    pub(crate) fn get(&self, id: &str, tasks: &BTreeMap<u64, Box<TaskMeta>>) -> Option<u64> {
        let half = Self::half(self.hasher.hash_one(id));
        self.table
            .find(spread(half), |e| {
                e.hash == half && tasks.get(&{ e.key }).is_some_and(|t| t.id.matches(id))
            })
            .map(|e| e.key)
    }

    /// The key of the task with this id (no text formatting: ids compare as values).
    pub(crate) fn get_id(&self, id: &TaskId, tasks: &BTreeMap<u64, Box<TaskMeta>>) -> Option<u64> {
        let half = Self::half(id.hash_with(&self.hasher));
        self.table
            .find(spread(half), |e| {
                e.hash == half && tasks.get(&{ e.key }).is_some_and(|t| t.id == *id)
            })
            .map(|e| e.key)
    }

    /// Adds a task whose id is not indexed yet.
    pub(crate) fn insert(&mut self, id: &TaskId, key: u64) {
        let half = Self::half(id.hash_with(&self.hasher));
        self.table
            .insert_unique(spread(half), Entry { hash: half, key }, |e| spread(e.hash));
    }

    /// Removes the task `key`, indexed under `id`.
    pub(crate) fn remove(&mut self, id: &TaskId, key: u64) {
        let half = Self::half(id.hash_with(&self.hasher));
        if let Ok(entry) = self.table.find_entry(spread(half), |e| e.key == key) {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{TaskOptions, TaskState};

    fn task(key: u64, id: &str) -> Box<TaskMeta> {
        Box::new(TaskMeta {
            key,
            id: TaskId::new(id),
            name: Arc::from("t"),
            queue: Arc::from("q"),
            ready_seq: key,
            due_ms: 0,
            enqueued_ms: 0,
            options: TaskOptions::default(),
            attempts: 0,
            payload_size: 0,
            priority: 0,
            state: TaskState::Ready,
            cold: None,
        })
    }

    #[test]
    fn ids_are_found_across_growth_and_gone_once_removed() {
        let mut tasks = BTreeMap::new();
        let mut index = IdIndex::default();
        let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for key in 0..20_000u64 {
            let id = if key == 7 {
                uuid.to_string()
            } else {
                format!("task-{key}")
            };
            let meta = task(key, &id);
            index.insert(&meta.id, key);
            tasks.insert(key, meta);
        }
        for key in (0..20_000u64).step_by(97) {
            let id = if key == 7 {
                uuid.to_string()
            } else {
                format!("task-{key}")
            };
            assert_eq!(index.get(&id, &tasks), Some(key), "{id}");
            assert_eq!(index.get_id(&TaskId::new(&id), &tasks), Some(key), "{id}");
        }
        assert_eq!(index.get(uuid, &tasks), Some(7), "a UUID id, kept as bytes");
        assert_eq!(index.get("task-20000", &tasks), None);
        let gone = tasks.remove(&5).unwrap();
        index.remove(&gone.id, 5);
        assert_eq!(index.get("task-5", &tasks), None);
        assert_eq!(index.get("task-6", &tasks), Some(6));
    }
}
