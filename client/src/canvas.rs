//! Workflows: [`Canvas`] (chains, groups and chords of [`Task`]s), submitted whole with
//! [`Client::enqueue_workflow`] and run by the broker. The rules (how results pass, what a
//! failure stops) are in `proto/stalk/v1/tasks.proto`, above `message Canvas`.
//!
//! ```
//! use stalk_client::{chain, chord, group, Canvas, Task};
//!
//! let add = |n: i64| Task::new("math.add").json(&[n]).expect("JSON");
//! // add(1) | add(2): the second gets [result_of_first, 2].
//! let two_steps: Canvas = chain![add(1), add(2)];
//! // Both run at once; `math.sum` gets [[r1, r2]].
//! let summed = chord([add(1), add(2)], Task::new("math.sum"));
//! // `then` extends a chain; `immutable` ignores the results before it.
//! let flow = group![add(1), add(2)].then(Canvas::immutable(Task::new("report.send")));
//! # let _ = (two_steps, summed, flow);
//! ```

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::status::TaskStatus;
use crate::task::Task;

/// A workflow, or a part of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Canvas {
    /// One task; `immutable` ignores the results of the tasks before it.
    Task {
        /// The task (boxed: a task is far larger than the other variants).
        task: Box<Task>,
        /// Send its payload as given (Celery's `si()`); it still waits for the tasks before.
        immutable: bool,
    },
    /// Steps one after another, each given the result before it.
    Chain(Vec<Canvas>),
    /// Members at once; the result is their results in order.
    Group(Vec<Canvas>),
    /// A group, then `body` with the list of its results.
    Chord {
        /// Run at once.
        header: Vec<Canvas>,
        /// Run with the header's results.
        body: Box<Canvas>,
        /// What a failed member does to the body.
        policy: ChordPolicy,
    },
    /// One task whose payload is a JSON array of items: the worker runs its handler once per
    /// item, and the result is the list of the results (Celery's `map`; `star`: `starmap`,
    /// each item a list of arguments).
    Map {
        /// The task; its payload holds the items.
        task: Box<Task>,
        /// Each item is a list of arguments.
        star: bool,
    },
    /// A task's items (its payload: a JSON array of argument lists) split into a group of
    /// starmap tasks of `size` items each (Celery's `chunks`).
    Chunks {
        /// The task; its payload holds the items.
        task: Box<Task>,
        /// Items per chunk.
        size: u32,
    },
    /// A part with callbacks: `link` runs after it succeeds, with its result; each
    /// `link_error` task runs once when a task of it fails for good, with
    /// `{"task_id", "error": {"kind", "message"}}` as its first argument.
    Linked {
        /// The part.
        canvas: Box<Canvas>,
        /// Success callbacks.
        link: Vec<Canvas>,
        /// Error callbacks.
        link_error: Vec<Task>,
    },
}

/// What a failed chord member (failed for good, revoked or expired) does to the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChordPolicy {
    /// The body is revoked at once (`ParentFailed`, naming the member).
    #[default]
    FailFast,
    /// The body waits for every member, then is revoked if one failed.
    WaitAll,
    /// The body runs with the results and the errors in order: a failed member's place holds
    /// `{"task_id", "error": {"kind", "message"}}`.
    Partial,
}

impl ChordPolicy {
    fn to_proto(self) -> v1::ChordPolicy {
        match self {
            Self::FailFast => v1::ChordPolicy::FailFast,
            Self::WaitAll => v1::ChordPolicy::WaitAll,
            Self::Partial => v1::ChordPolicy::Partial,
        }
    }
}

impl From<Task> for Canvas {
    fn from(task: Task) -> Self {
        Self::Task {
            task: Box::new(task),
            immutable: false,
        }
    }
}

impl Canvas {
    /// A task that ignores the results of the tasks before it.
    pub fn immutable(task: Task) -> Self {
        Self::Task {
            task: Box::new(task),
            immutable: true,
        }
    }

    /// A map task (see [`Canvas::Map`]): `task`'s payload is the JSON array of items.
    pub fn map(task: Task) -> Self {
        Self::Map {
            task: Box::new(task),
            star: false,
        }
    }

    /// A starmap task: each item of `task`'s payload is a list of arguments.
    pub fn starmap(task: Task) -> Self {
        Self::Map {
            task: Box::new(task),
            star: true,
        }
    }

    /// `task`'s items (argument lists) in chunks of `size`: a group of starmap tasks.
    pub fn chunks(task: Task, size: u32) -> Self {
        Self::Chunks {
            task: Box::new(task),
            size,
        }
    }

    /// Sets a chord's policy for failed members; other parts are returned unchanged.
    #[must_use]
    pub fn on_member_failure(self, policy: ChordPolicy) -> Self {
        match self {
            Self::Chord { header, body, .. } => Self::Chord {
                header,
                body,
                policy,
            },
            Self::Linked {
                canvas,
                link,
                link_error,
            } => Self::Linked {
                canvas: Box::new(canvas.on_member_failure(policy)),
                link,
                link_error,
            },
            other => other,
        }
    }

    /// Adds a success callback (Celery's `link`): it runs after this part succeeds, with its
    /// result, and is not part of this part's result.
    #[must_use]
    pub fn link(self, callback: impl Into<Canvas>) -> Self {
        let (canvas, mut link, link_error) = self.into_linked();
        link.push(callback.into());
        Self::Linked {
            canvas,
            link,
            link_error,
        }
    }

    /// Adds an error callback (Celery's `link_error`): it runs once when a task of this part
    /// fails for good, with the task's id and error first among its arguments.
    #[must_use]
    pub fn link_error(self, callback: Task) -> Self {
        let (canvas, link, mut link_error) = self.into_linked();
        link_error.push(callback);
        Self::Linked {
            canvas,
            link,
            link_error,
        }
    }

    fn into_linked(self) -> (Box<Canvas>, Vec<Canvas>, Vec<Task>) {
        match self {
            Self::Linked {
                canvas,
                link,
                link_error,
            } => (canvas, link, link_error),
            other => (Box::new(other), Vec::new(), Vec::new()),
        }
    }

    /// This, then `next` with its result: a chain (extended when this is one already).
    #[must_use]
    pub fn then(self, next: impl Into<Canvas>) -> Self {
        match self {
            Self::Chain(mut steps) => {
                steps.push(next.into());
                Self::Chain(steps)
            }
            first => Self::Chain(vec![first, next.into()]),
        }
    }

    /// The tasks in the order the broker answers their ids (depth first); a chunks part is
    /// listed once, where the broker answers one id per chunk.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Task>) {
        match self {
            Self::Task { task, .. } | Self::Map { task, .. } | Self::Chunks { task, .. } => {
                out.push(task);
            }
            Self::Chain(parts) | Self::Group(parts) => parts.iter().for_each(|p| p.collect(out)),
            Self::Chord { header, body, .. } => {
                header.iter().for_each(|p| p.collect(out));
                body.collect(out);
            }
            Self::Linked {
                canvas,
                link,
                link_error,
            } => {
                canvas.collect(out);
                link.iter().for_each(|p| p.collect(out));
                out.extend(link_error.iter());
            }
        }
    }

    /// The wire form.
    pub fn into_proto(self) -> v1::Canvas {
        use v1::canvas::Kind;
        let kind = match self {
            Self::Task { task, immutable } => Kind::Task(v1::Signature {
                task: Some((*task).into_spec()),
                immutable,
            }),
            Self::Map { task, star } => Kind::Map(v1::Map {
                task: Some(v1::Signature {
                    task: Some((*task).into_spec()),
                    immutable: false,
                }),
                star,
            }),
            Self::Chunks { task, size } => Kind::Chunks(v1::Chunks {
                task: Some(v1::Signature {
                    task: Some((*task).into_spec()),
                    immutable: false,
                }),
                size,
            }),
            Self::Chain(steps) => Kind::Chain(v1::Chain {
                steps: steps.into_iter().map(Self::into_proto).collect(),
            }),
            Self::Group(members) => Kind::Group(v1::Group {
                members: members.into_iter().map(Self::into_proto).collect(),
            }),
            Self::Chord {
                header,
                body,
                policy,
            } => Kind::Chord(Box::new(v1::Chord {
                header: header.into_iter().map(Self::into_proto).collect(),
                body: Some(Box::new(body.into_proto())),
                policy: policy.to_proto().into(),
            })),
            Self::Linked {
                canvas,
                link,
                link_error,
            } => {
                let mut inner = canvas.into_proto();
                inner.link.extend(link.into_iter().map(Self::into_proto));
                inner
                    .link_error
                    .extend(link_error.into_iter().map(|task| v1::Signature {
                        task: Some(task.into_spec()),
                        immutable: false,
                    }));
                return inner;
            }
        };
        v1::Canvas {
            kind: Some(kind),
            ..v1::Canvas::default()
        }
    }
}

/// Steps one after another: `chain([a, b, c])`.
pub fn chain<C: Into<Canvas>>(steps: impl IntoIterator<Item = C>) -> Canvas {
    Canvas::Chain(steps.into_iter().map(Into::into).collect())
}

/// Members at once: `group([a, b])`.
pub fn group<C: Into<Canvas>>(members: impl IntoIterator<Item = C>) -> Canvas {
    Canvas::Group(members.into_iter().map(Into::into).collect())
}

/// `header` at once, then `body` with the list of their results.
pub fn chord<C: Into<Canvas>>(
    header: impl IntoIterator<Item = C>,
    body: impl Into<Canvas>,
) -> Canvas {
    Canvas::Chord {
        header: header.into_iter().map(Into::into).collect(),
        body: Box::new(body.into()),
        policy: ChordPolicy::FailFast,
    }
}

/// `chain![a, b, c]`: steps of any [`Canvas`] kind (or [`Task`]s) one after another.
#[macro_export]
macro_rules! chain {
    ($($step:expr),+ $(,)?) => {
        $crate::Canvas::Chain(vec![$($crate::Canvas::from($step)),+])
    };
}

/// `group![a, b]`: members of any [`Canvas`] kind (or [`Task`]s) at once.
#[macro_export]
macro_rules! group {
    ($($member:expr),+ $(,)?) => {
        $crate::Canvas::Group(vec![$($crate::Canvas::from($member)),+])
    };
}

/// A workflow the broker created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowHandle {
    /// The workflow's id, for [`Client::workflow`] and [`Client::revoke`] (which revokes every
    /// unfinished task of it).
    pub id: String,
    /// Its tasks' ids, in [`Canvas::tasks`] order.
    pub task_ids: Vec<String>,
}

/// A workflow's shape as the broker keeps it: leaves index [`WorkflowStatus::tasks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowTree {
    /// The task at this index.
    Task(usize),
    /// Steps one after another.
    Chain(Vec<WorkflowTree>),
    /// Members at once.
    Group(Vec<WorkflowTree>),
    /// A header, then a body.
    Chord {
        /// Run at once.
        header: Vec<WorkflowTree>,
        /// Run with the header's results.
        body: Box<WorkflowTree>,
    },
}

impl WorkflowTree {
    fn from_wire(tree: v1::WorkflowTree) -> Result<Self, ClientError> {
        use v1::workflow_tree::Kind;
        let all = |parts: Vec<v1::WorkflowTree>| {
            parts
                .into_iter()
                .map(Self::from_wire)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match tree.kind {
            Some(Kind::Task(index)) => Self::Task(index as usize),
            Some(Kind::Chain(chain)) => Self::Chain(all(chain.parts)?),
            Some(Kind::Group(group)) => Self::Group(all(group.parts)?),
            Some(Kind::Chord(chord)) => Self::Chord {
                header: all(chord.header)?,
                body: Box::new(Self::from_wire(chord.body.map(|b| *b).unwrap_or_default())?),
            },
            None => {
                return Err(ClientError::Protocol(
                    "a workflow tree node has no kind".into(),
                ))
            }
        })
    }
}

/// Work a task of a workflow handed on when it ran: the canvas that replaced it, canvases it
/// added. Leaves index [`WorkflowStatus::tasks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowGraft {
    /// The index of the task that handed it on.
    pub task: usize,
    /// The shape of its replacement, if it replaced itself.
    pub replaced_by: Option<WorkflowTree>,
    /// The shapes of the canvases it added.
    pub added: Vec<WorkflowTree>,
}

impl WorkflowGraft {
    fn from_wire(graft: v1::WorkflowGraft) -> Result<Self, ClientError> {
        Ok(Self {
            task: graft.task as usize,
            replaced_by: graft.replaced_by.map(WorkflowTree::from_wire).transpose()?,
            added: graft
                .added
                .into_iter()
                .map(WorkflowTree::from_wire)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A workflow's tasks and shape, as [`Client::workflow`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStatus {
    /// The workflow's id.
    pub id: String,
    /// Its tasks in canvas order ([`TaskState::Unknown`](crate::TaskState::Unknown) for one
    /// deleted after its result's time to live).
    pub tasks: Vec<TaskStatus>,
    /// Its shape, as submitted.
    pub tree: WorkflowTree,
    /// Work its tasks handed on, in order (their tasks follow the submitted ones).
    pub grafts: Vec<WorkflowGraft>,
    /// Every task finished.
    pub finished: bool,
    /// Every task succeeded.
    pub succeeded: bool,
}

impl WorkflowStatus {
    /// The statuses of the tasks a part of the tree names, in order: a group's members' (the
    /// last task of each member that is a chain), as `GroupResult.get` gives them.
    pub fn results_of(&self, part: &WorkflowTree) -> Vec<&TaskStatus> {
        fn last(tree: &WorkflowTree) -> Option<usize> {
            match tree {
                WorkflowTree::Task(i) => Some(*i),
                WorkflowTree::Chain(parts) => parts.last().and_then(last),
                WorkflowTree::Chord { body, .. } => last(body),
                WorkflowTree::Group(_) => None,
            }
        }
        let members: Vec<usize> = match part {
            WorkflowTree::Group(members) => members.iter().filter_map(last).collect(),
            other => last(other).into_iter().collect(),
        };
        members.iter().filter_map(|&i| self.tasks.get(i)).collect()
    }
}

impl WorkflowHandle {
    /// The id of the task listed last: a chain's last step, a chord's body.
    pub fn last(&self) -> Option<&str> {
        self.task_ids.last().map(String::as_str)
    }
}

impl Client {
    /// Submits a workflow in one call; the broker creates all of its tasks or none.
    ///
    /// # Errors
    /// [`ClientError::Rejected`] naming the part that was wrong when the broker refused the
    /// workflow, [`ClientError::Status`] when it refused the call, [`ClientError::Protocol`]
    /// for an answer without the workflow's outcome.
    pub async fn enqueue_workflow(&self, canvas: Canvas) -> Result<WorkflowHandle, ClientError> {
        let response = self
            .tasks()
            .enqueue(v1::EnqueueRequest {
                tasks: Vec::new(),
                workflows: vec![canvas.into_proto()],
            })
            .await?
            .into_inner();
        let Some(outcome) = response.workflows.into_iter().next() else {
            return Err(ClientError::Protocol(
                "Enqueue of a workflow answered no workflow outcome".into(),
            ));
        };
        if let Some(error) = outcome.error {
            return Err(ClientError::Rejected {
                task_id: None,
                kind: error.kind,
                message: error.message,
            });
        }
        Ok(WorkflowHandle {
            id: outcome.workflow_id,
            task_ids: outcome.task_ids,
        })
    }

    /// A workflow's tasks (with their states and results) and its shape.
    ///
    /// # Errors
    /// [`ClientError::Status`] with NOT_FOUND for an id that names no workflow;
    /// [`ClientError::Protocol`] for a malformed answer.
    pub async fn workflow(&self, id: &str) -> Result<WorkflowStatus, ClientError> {
        let response = self
            .tasks()
            .get_workflow(v1::GetWorkflowRequest {
                workflow_id: id.to_owned(),
            })
            .await?
            .into_inner();
        let tree = response
            .tree
            .ok_or_else(|| ClientError::Protocol("a GetWorkflow answer has no tree".into()))?;
        Ok(WorkflowStatus {
            id: response.workflow_id,
            tasks: response
                .tasks
                .into_iter()
                .map(TaskStatus::from_wire)
                .collect::<Result<_, _>>()?,
            tree: WorkflowTree::from_wire(tree)?,
            grafts: response
                .grafts
                .into_iter()
                .map(WorkflowGraft::from_wire)
                .collect::<Result<_, _>>()?,
            finished: response.finished,
            succeeded: response.succeeded,
        })
    }

    /// Waits up to `timeout` for every task of a workflow to finish, and returns it.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when a task is still unfinished at `timeout`, and the errors
    /// of [`Client::workflow`].
    pub async fn wait_workflow(
        &self,
        id: &str,
        timeout: std::time::Duration,
    ) -> Result<WorkflowStatus, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.workflow(id).await?;
            let Some(waiting) = status.tasks.iter().find(|t| !t.state.is_terminal()) else {
                return Ok(status);
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout {
                    task_id: waiting.id.clone(),
                    state: waiting.state,
                    waited: timeout,
                });
            }
            self.wait_for(&waiting.id, left).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> Task {
        Task::new(name)
    }

    #[test]
    fn then_extends_a_chain_and_macros_match_the_functions() {
        let built = Canvas::from(t("a")).then(t("b")).then(t("c"));
        assert_eq!(built, chain![t("a"), t("b"), t("c")]);
        assert_eq!(group![t("a"), t("b")], group([t("a"), t("b")]));
    }

    #[test]
    fn tasks_are_listed_depth_first_as_the_broker_answers_ids() {
        let flow = chain![
            t("a"),
            chord([t("b"), t("c")], chain![t("d"), t("e")]),
            Canvas::immutable(t("f"))
        ];
        let names: Vec<&str> = flow.tasks().iter().map(|t| t.name()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn the_wire_form_keeps_the_tree() {
        let wire = chord([t("a")], Canvas::immutable(t("b"))).into_proto();
        let Some(v1::canvas::Kind::Chord(chord)) = wire.kind else {
            panic!("a chord: {wire:?}");
        };
        assert_eq!(chord.header.len(), 1);
        let body = chord.body.expect("a body");
        let Some(v1::canvas::Kind::Task(signature)) = body.kind else {
            panic!("a task body");
        };
        assert!(signature.immutable);
        assert_eq!(signature.task.expect("task").name, "b");
    }
}
