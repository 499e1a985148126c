//! The index from task id to task key. It stores only the 8-byte key per task: ids are hashed
//! and compared against the id the task itself holds, so no id is stored twice.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::task::TaskMeta;
use super::task_id::TaskId;

/// Task keys, found by id.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    table: HashTable<u64>,
    hasher: RandomState,
}

impl IdIndex {
    /// The key of the task with this id.
    pub(crate) fn get(&self, id: &str, tasks: &BTreeMap<u64, Box<TaskMeta>>) -> Option<u64> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |key| tasks.get(key).is_some_and(|t| t.id.matches(id)))
            .copied()
    }

    /// The key of the task with this id (no text formatting: ids compare as values).
    pub(crate) fn get_id(&self, id: &TaskId, tasks: &BTreeMap<u64, Box<TaskMeta>>) -> Option<u64> {
        let hash = id.hash_with(&self.hasher);
        self.table
            .find(hash, |key| tasks.get(key).is_some_and(|t| t.id == *id))
            .copied()
    }

    /// Adds a task whose id is not indexed yet; every indexed key must be in `tasks`.
    pub(crate) fn insert(&mut self, id: &TaskId, key: u64, tasks: &BTreeMap<u64, Box<TaskMeta>>) {
        let hasher = &self.hasher;
        let hash = id.hash_with(hasher);
        self.table.insert_unique(hash, key, |k| {
            tasks.get(k).map_or(0, |t| t.id.hash_with(hasher))
        });
    }

    /// Removes the task `key`, indexed under `id`.
    pub(crate) fn remove(&mut self, id: &TaskId, key: u64) {
        let hash = id.hash_with(&self.hasher);
        if let Ok(entry) = self.table.find_entry(hash, |k| *k == key) {
            entry.remove();
        }
    }
}
