//! A workflow from the wire (`Canvas`) into the tasks the engine creates in one command: each
//! task with its input slots, its input shape and the slots its result fills (the rules are in
//! `tasks.proto`, above `Canvas`).

use stalk_proto::v1 as pb;

use super::task::task_at;
use super::FieldError;
use crate::engine::{InputShape, NewFlow, NewTask, Shape, TaskId};

/// Most tasks in one workflow.
pub(crate) const MAX_WORKFLOW_TASKS: usize = 20_000;
/// Most result passings in one workflow (a step after a group of n takes n).
pub(crate) const MAX_WORKFLOW_EDGES: usize = 100_000;
/// Deepest nesting of chains, groups and chords.
pub(crate) const MAX_WORKFLOW_DEPTH: usize = 32;

/// What a part of a workflow gives the step after it: one task's result, or a list of them.
#[derive(Debug, Clone)]
enum Output {
    Task(usize),
    List(Vec<Output>),
}

impl Output {
    fn tasks(&self, out: &mut Vec<usize>) {
        match self {
            Self::Task(i) => out.push(*i),
            Self::List(items) => items.iter().for_each(|item| item.tasks(out)),
        }
    }

    /// The shape of this output with each task replaced by its slot (in `tasks` order).
    fn shape(&self, next_slot: &mut u32) -> Shape {
        match self {
            Self::Task(_) => {
                let slot = *next_slot;
                *next_slot += 1;
                Shape::Slot(slot)
            }
            Self::List(items) => Shape::List(items.iter().map(|i| i.shape(next_slot)).collect()),
        }
    }
}

/// Checks and converts one workflow; `path` names it in errors (`workflows[0]`).
pub(crate) fn workflow(
    path: &str,
    canvas: pb::Canvas,
    max_payload: usize,
    now_ms: u64,
    generated_id: &mut impl FnMut() -> TaskId,
) -> Result<(Vec<NewTask>, pb::WorkflowTree), FieldError> {
    let mut compiler = Compiler {
        tasks: Vec::new(),
        edges: 0,
        max_payload,
        now_ms,
        generated_id,
    };
    let (_, tree) = compiler.canvas(path, canvas, None, 1)?;
    Ok((compiler.tasks, tree))
}

struct Compiler<'a, F> {
    tasks: Vec<NewTask>,
    edges: usize,
    max_payload: usize,
    now_ms: u64,
    generated_id: &'a mut F,
}

impl<F: FnMut() -> TaskId> Compiler<'_, F> {
    fn canvas(
        &mut self,
        path: &str,
        canvas: pb::Canvas,
        input: Option<&Output>,
        depth: usize,
    ) -> Result<(Output, pb::WorkflowTree), FieldError> {
        use pb::canvas::Kind;
        use pb::workflow_tree::Kind as Tree;
        let tree = |kind| pb::WorkflowTree { kind: Some(kind) };
        if depth > MAX_WORKFLOW_DEPTH {
            return Err(FieldError::invalid(
                path,
                format!("nests deeper than {MAX_WORKFLOW_DEPTH} levels"),
            ));
        }
        match canvas.kind {
            None => Err(FieldError::invalid(
                path,
                "is empty; set one of task, chain, group or chord",
            )),
            Some(Kind::Task(signature)) => {
                let output = self.task(&format!("{path}.task"), signature, input)?;
                let index = u32::try_from(self.tasks.len() - 1).unwrap_or(u32::MAX);
                Ok((output, tree(Tree::Task(index))))
            }
            Some(Kind::Chain(chain)) => {
                let path = format!("{path}.chain.steps");
                if chain.steps.is_empty() {
                    return Err(FieldError::invalid(path, "a chain needs at least one step"));
                }
                let mut last: Option<Output> = input.cloned();
                let mut parts = Vec::with_capacity(chain.steps.len());
                for (i, step) in chain.steps.into_iter().enumerate() {
                    let step_path = format!("{path}[{i}]");
                    let (output, part) = self.canvas(&step_path, step, last.as_ref(), depth + 1)?;
                    last = Some(output);
                    parts.push(part);
                }
                let last = last.expect("invariant: a chain has a step");
                Ok((last, tree(Tree::Chain(pb::WorkflowTrees { parts }))))
            }
            Some(Kind::Group(group)) => {
                let path = format!("{path}.group.members");
                let (output, parts) = self.group(&path, group.members, input, depth)?;
                Ok((output, tree(Tree::Group(pb::WorkflowTrees { parts }))))
            }
            Some(Kind::Chord(chord)) => {
                let header_path = format!("{path}.chord.header");
                let (header, header_trees) =
                    self.group(&header_path, chord.header, input, depth)?;
                let body_path = format!("{path}.chord.body");
                let Some(body) = chord.body else {
                    return Err(FieldError::invalid(body_path, "a chord needs a body"));
                };
                let (output, body) = self.canvas(&body_path, *body, Some(&header), depth + 1)?;
                let chord = pb::WorkflowChord {
                    header: header_trees,
                    body: Some(Box::new(body)),
                };
                Ok((output, tree(Tree::Chord(Box::new(chord)))))
            }
        }
    }

    fn group(
        &mut self,
        path: &str,
        members: Vec<pb::Canvas>,
        input: Option<&Output>,
        depth: usize,
    ) -> Result<(Output, Vec<pb::WorkflowTree>), FieldError> {
        if members.is_empty() {
            return Err(FieldError::invalid(path, "needs at least one member"));
        }
        let mut outputs = Vec::with_capacity(members.len());
        let mut trees = Vec::with_capacity(members.len());
        for (i, member) in members.into_iter().enumerate() {
            let (output, tree) = self.canvas(&format!("{path}[{i}]"), member, input, depth + 1)?;
            outputs.push(output);
            trees.push(tree);
        }
        Ok((Output::List(outputs), trees))
    }

    fn task(
        &mut self,
        path: &str,
        signature: pb::Signature,
        input: Option<&Output>,
    ) -> Result<Output, FieldError> {
        if self.tasks.len() >= MAX_WORKFLOW_TASKS {
            return Err(FieldError::invalid(
                path,
                format!("a workflow holds at most {MAX_WORKFLOW_TASKS} tasks"),
            ));
        }
        let Some(spec) = signature.task else {
            return Err(FieldError::invalid(
                format!("{path}.task"),
                "a signature needs its task",
            ));
        };
        let spec_path = format!("{path}.task");
        if !spec.task_id.is_empty() || !spec.unique_key.is_empty() {
            return Err(FieldError::invalid(
                &spec_path,
                "the tasks of a workflow take no task_id or unique_key: the broker names them \
                 (the Enqueue answer lists their ids)",
            ));
        }
        let waits = input.is_some();
        if waits && (spec.eta_unix_ms != 0 || spec.countdown_ms != 0) {
            return Err(FieldError::invalid(
                &spec_path,
                "a task that waits for others starts when their results are in; eta and \
                 countdown apply only to a workflow's first tasks",
            ));
        }
        let content_type = spec.content_type.to_ascii_lowercase();
        if waits
            && !signature.immutable
            && !content_type.is_empty()
            && !content_type.contains("json")
        {
            return Err(FieldError::invalid(
                format!("{spec_path}.content_type"),
                format!(
                    "is {:?}: a task that takes the results before it needs a JSON payload; \
                     make its signature immutable to send the payload as given",
                    spec.content_type
                ),
            ));
        }
        let mut task = task_at(
            &spec_path,
            spec,
            self.max_payload,
            self.now_ms,
            &mut *self.generated_id,
        )?;
        let index = self.tasks.len();
        let mut inputs = 0;
        if let Some(input) = input {
            let mut parents = Vec::new();
            input.tasks(&mut parents);
            self.edges += parents.len();
            if self.edges > MAX_WORKFLOW_EDGES {
                return Err(FieldError::invalid(
                    path,
                    format!(
                        "a workflow passes at most {MAX_WORKFLOW_EDGES} results (a step after \
                         a group of n takes n)"
                    ),
                ));
            }
            for (slot, parent) in (0u32..).zip(parents) {
                if let Some(flow) = self.tasks.get_mut(parent).and_then(|t| t.flow.as_mut()) {
                    flow.feeds.push((index, slot));
                }
                inputs = slot + 1;
            }
            task.body.input = Some(InputShape {
                shape: input.shape(&mut 0),
                immutable: signature.immutable,
            });
        }
        task.flow = Some(NewFlow {
            inputs,
            feeds: Vec::new(),
            workflow: 0,
        });
        self.tasks.push(task);
        Ok(Output::Task(index))
    }
}
