//! Enqueue: new tasks, deduplicated by id and unique key, indexed as READY or SCHEDULED.

use std::sync::Arc;

use super::command::{Enqueued, Outcome, Reply, Write};
use super::ctx::Ctx;
use super::events::{Event, EventKind};
use super::revocations::RevokeRule;
use super::task::{NewTask, TaskBody, TaskCold, TaskError, TaskMeta, TaskState};
use super::transitions::{index, Change};
use super::{Engine, EngineError};

impl Engine {
    pub(super) fn enqueue(&mut self, tasks: Vec<NewTask>, ctx: Ctx) -> Outcome {
        let mut out = Outcome::new(Reply::Enqueued(Vec::new()));
        let workflow = tasks.iter().any(|t| t.flow.is_some());
        if workflow {
            // A workflow is created whole or not at all.
            if let Some(refused) = tasks.iter().find_map(|t| self.refusal(t, ctx)) {
                out.reply = Reply::Enqueued(
                    tasks
                        .iter()
                        .map(|_| Enqueued::Refused(refused.clone()))
                        .collect(),
                );
                return out;
            }
        }
        let mut results = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.into_iter().enumerate() {
            results.push(self.enqueue_one(task, ctx, i, &mut out));
        }
        if workflow {
            let keys: Vec<u64> = (0..results.len()).map(|i| ctx.sub_id(i)).collect();
            self.settle_arrivals(&keys, ctx, &mut out);
        }
        out.reply = Reply::Enqueued(results);
        out
    }

    /// Why a task would be refused, checked before anything is created.
    pub(super) fn refusal(&self, task: &NewTask, ctx: Ctx) -> Option<EngineError> {
        let expired = task
            .expires
            .is_some_and(|w| w.resolve(ctx.now_ms) <= ctx.now_ms);
        expired.then(|| EngineError::InvalidArgument {
            field: "expires",
            message: format!(
                "task {} would expire before it could run; give a time in the future",
                task.id
            ),
        })
    }

    pub(super) fn enqueue_one(
        &mut self,
        mut task: NewTask,
        ctx: Ctx,
        i: usize,
        out: &mut Outcome,
    ) -> Enqueued {
        let existing = self.ids.get_id(&task.id, &self.tasks);
        if let Some(existing) = existing.and_then(|key| self.tasks.get(&key)) {
            return Enqueued::Existing {
                id: existing.id.clone(),
                state: existing.state,
            };
        }
        let (queue, _) = self.queues.entry(&task.queue);
        let unique_key: Option<Arc<str>> = task.unique_key.as_deref().map(Arc::from);
        if let Some(unique) = &unique_key {
            let live = self
                .unique
                .get(&(queue.clone(), unique.clone()))
                .and_then(|key| self.tasks.get(key));
            if let Some(live) = live {
                return Enqueued::Existing {
                    id: live.id.clone(),
                    state: live.state,
                };
            }
        }
        let expires_at_ms = task.expires.map(|w| w.resolve(ctx.now_ms));
        if expires_at_ms.is_some_and(|at| at <= ctx.now_ms) {
            return Enqueued::Refused(EngineError::InvalidArgument {
                field: "expires",
                message: "the task would expire before it could run; give a time in the future"
                    .into(),
            });
        }
        let revoked_by = task.id.with_str(|id| {
            let headers = task.body.headers.iter();
            self.revocations.matching(
                id,
                headers.map(|(n, v)| (n.as_str(), v.as_str())),
                ctx.now_ms,
            )
        });
        let due_ms = task.eta.map_or(0, |w| w.resolve(ctx.now_ms));
        let flow = task
            .flow
            .as_ref()
            .map(|f| Box::new(Self::new_flow_node(f, ctx)));
        let (state, due_ms) = if flow.as_ref().is_some_and(|f| f.missing() > 0) {
            (TaskState::Waiting, 0)
        } else if due_ms > ctx.now_ms {
            (TaskState::Scheduled, due_ms)
        } else {
            (TaskState::Ready, 0)
        };
        let key = ctx.sub_id(i);
        let headers: Vec<(Arc<str>, Arc<str>)> = std::mem::take(&mut task.body.headers)
            .into_iter()
            .map(|(name, value)| (Arc::from(name), Arc::from(value)))
            .collect();
        let cold = (expires_at_ms.is_some()
            || unique_key.is_some()
            || !headers.is_empty()
            || flow.is_some())
        .then(|| {
            Box::new(TaskCold {
                expires_at_ms,
                unique_key,
                headers,
                flow,
                ..TaskCold::default()
            })
        });
        let meta = TaskMeta {
            key,
            id: task.id,
            name: self.intern_name(&task.name),
            queue,
            ready_seq: key,
            due_ms,
            enqueued_ms: ctx.now_ms,
            options: task.options,
            attempts: 0,
            // The service bounds payloads far below 4 GiB.
            payload_size: u32::try_from(task.body.payload.len()).unwrap_or(u32::MAX),
            priority: task.priority.min(9),
            state,
            cold,
        };
        let created = self.insert_task(meta, task.body, out);
        match revoked_by {
            Some(rule) => self.revoke_on_arrival(key, &rule, ctx, out),
            None => created,
        }
    }

    /// A task that arrived after a revoke that names it (by id or header): stored, so its
    /// result says so, but REVOKED at once; it never runs.
    fn revoke_on_arrival(
        &mut self,
        key: u64,
        rule: &RevokeRule,
        ctx: Ctx,
        out: &mut Outcome,
    ) -> Enqueued {
        let meta = self
            .tasks
            .get_mut(&key)
            .expect("invariant: the task was inserted just before");
        meta.cold_mut().error = Some(TaskError {
            kind: "Revoked".into(),
            message: format!("revoked before it arrived (by {rule})"),
        });
        let id = meta.id.clone();
        let state = self.transition(key, TaskState::Revoked, Change::default(), ctx, out);
        Enqueued::Created { id, state }
    }

    /// Adds a new task (built by `enqueue_one`) to the indexes and the store's writes.
    fn insert_task(&mut self, meta: TaskMeta, body: TaskBody, out: &mut Outcome) -> Enqueued {
        let (key, state) = (meta.key, meta.state);
        if let Some(unique) = meta.unique_key() {
            self.unique
                .insert((meta.queue.clone(), unique.clone()), key);
        }
        self.ids.insert(&meta.id, key);
        index(
            &mut self.queues,
            &mut self.timers,
            &meta,
            &mut out.timers_moved,
        );
        if state == TaskState::Ready {
            out.ready_in(&meta.queue);
        }
        let id = meta.id.clone();
        out.events
            .push(Event::of_task(EventKind::Sent, &meta, meta.enqueued_ms));
        if state == TaskState::Scheduled {
            out.events.push(Event::of_task(
                EventKind::Scheduled,
                &meta,
                meta.enqueued_ms,
            ));
        }
        out.writes
            .push(Write::Insert(Box::new((meta.clone(), body))));
        self.tasks.insert(key, Box::new(meta));
        Enqueued::Created { id, state }
    }
}
