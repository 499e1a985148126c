//! A workflow from the wire (`Canvas`) into the tasks the engine creates in one command: each
//! task with its input slots, its input shape and the slots its result fills (the rules are in
//! `tasks.proto`, above `Canvas`).

use stalk_proto::v1 as pb;

use super::task::task_at;
use super::FieldError;
use crate::engine::{FlowMode, InputShape, NewFlow, NewGraft, NewTask, Replacement, Shape, TaskId};

/// Most tasks in one workflow.
pub(crate) const MAX_WORKFLOW_TASKS: usize = 20_000;
/// Most result passings in one workflow (a step after a group of n takes n).
pub(crate) const MAX_WORKFLOW_EDGES: usize = 100_000;
/// Deepest nesting of chains, groups and chords.
pub(crate) const MAX_WORKFLOW_DEPTH: usize = 32;
/// Most items of a map or chunks task.
pub(crate) const MAX_MAP_ITEMS: usize = 10_000;
/// The header that tells a worker to run a task's handler once per item (see `Map`).
pub(crate) const MAP_HEADER: &str = "stalk-map";

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

/// What a task waits for: the outcomes of a part before it (and what it does when one fails),
/// or, for an error callback, the failures of the tasks it watches.
#[derive(Debug, Clone, Copy)]
enum Feed<'a> {
    Results(&'a Output, FlowMode),
    Failures(&'a [usize]),
}

/// The mode a chord's policy gives its body.
fn chord_mode(policy: i32, path: &str) -> Result<FlowMode, FieldError> {
    match pb::ChordPolicy::try_from(policy) {
        Ok(pb::ChordPolicy::Unspecified | pb::ChordPolicy::FailFast) => Ok(FlowMode::FailFast),
        Ok(pb::ChordPolicy::WaitAll) => Ok(FlowMode::WaitAll),
        Ok(pb::ChordPolicy::Partial) => Ok(FlowMode::Partial),
        Err(_) => Err(FieldError::invalid(
            path,
            format!("{policy} is not a chord policy; use FAIL_FAST, WAIT_ALL or PARTIAL"),
        )),
    }
}

/// A map task's signature, with the header that tells the worker to map, and its items.
fn mapped(
    path: &str,
    mut signature: pb::Signature,
    star: bool,
) -> Result<(pb::Signature, Vec<Box<serde_json::value::RawValue>>), FieldError> {
    let Some(spec) = signature.task.as_mut() else {
        return Err(FieldError::invalid(path, "a map needs its task"));
    };
    let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(&spec.payload)
        .map_err(|e| {
            FieldError::invalid(
                format!("{path}.payload"),
                format!("the items must be a JSON array: {e}"),
            )
        })?;
    if items.len() > MAX_MAP_ITEMS {
        return Err(FieldError::invalid(
            format!("{path}.payload"),
            format!("holds {} items; at most {MAX_MAP_ITEMS}", items.len()),
        ));
    }
    if star
        && items
            .iter()
            .any(|item| !item.get().trim_start().starts_with('['))
    {
        return Err(FieldError::invalid(
            format!("{path}.payload"),
            "each item of a starmap (and of chunks) is a list of arguments",
        ));
    }
    let kind = if star { "starmap" } else { "map" };
    spec.headers.insert(MAP_HEADER.to_owned(), kind.to_owned());
    Ok((signature, items))
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

/// Checks and converts the work an ack hands on: a replacement (`replace`) and canvases it adds
/// (`add`), compiled together as one workflow's tasks (the same limits), the replacement's
/// first. `None` when there is neither.
pub(crate) fn graft(
    replace: Option<pb::Canvas>,
    add: Vec<pb::Canvas>,
    max_payload: usize,
    now_ms: u64,
) -> Result<Option<NewGraft>, FieldError> {
    if replace.is_none() && add.is_empty() {
        return Ok(None);
    }
    let mut generated_id = || TaskId::from_uuid(uuid::Uuid::now_v7());
    let mut compiler = Compiler {
        tasks: Vec::new(),
        edges: 0,
        max_payload,
        now_ms,
        generated_id: &mut generated_id,
    };
    let mut tree = pb::WorkflowGraft::default();
    let replacement = match replace {
        Some(canvas) => {
            let (output, shape) = compiler.canvas("replace", canvas, None, 1)?;
            tree.replaced_by = Some(shape);
            let mut outputs = Vec::new();
            output.tasks(&mut outputs);
            Some(Replacement {
                tasks: compiler.tasks.len(),
                outputs,
                shape: output.shape(&mut 0),
            })
        }
        None => None,
    };
    for (i, canvas) in add.into_iter().enumerate() {
        let (_, shape) = compiler.canvas(&format!("add[{i}]"), canvas, None, 1)?;
        tree.added.push(shape);
    }
    Ok(Some(NewGraft {
        tasks: compiler.tasks,
        replacement,
        tree: prost::Message::encode_to_vec(&tree).into(),
    }))
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
        input: Option<Feed<'_>>,
        depth: usize,
    ) -> Result<(Output, pb::WorkflowTree), FieldError> {
        if depth > MAX_WORKFLOW_DEPTH {
            return Err(FieldError::invalid(
                path,
                format!("nests deeper than {MAX_WORKFLOW_DEPTH} levels"),
            ));
        }
        let start = self.tasks.len();
        let (output, tree) = self.kind(path, canvas.kind, input, depth)?;
        let watched: Vec<usize> = (start..self.tasks.len()).collect();
        for (i, link) in canvas.link.into_iter().enumerate() {
            let feed = Feed::Results(&output, FlowMode::FailFast);
            self.canvas(&format!("{path}.link[{i}]"), link, Some(feed), depth + 1)?;
        }
        for (i, errback) in canvas.link_error.into_iter().enumerate() {
            let feed = Feed::Failures(&watched);
            self.task(&format!("{path}.link_error[{i}]"), errback, Some(feed))?;
        }
        Ok((output, tree))
    }

    fn kind(
        &mut self,
        path: &str,
        kind: Option<pb::canvas::Kind>,
        input: Option<Feed<'_>>,
        depth: usize,
    ) -> Result<(Output, pb::WorkflowTree), FieldError> {
        use pb::canvas::Kind;
        use pb::workflow_tree::Kind as Tree;
        let tree = |kind| pb::WorkflowTree { kind: Some(kind) };
        match kind {
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
                let mut last: Option<Output> = None;
                let mut parts = Vec::with_capacity(chain.steps.len());
                for (i, step) in chain.steps.into_iter().enumerate() {
                    let step_path = format!("{path}[{i}]");
                    // The first step takes what the chain takes; the others, the step before.
                    let feed = match &last {
                        Some(last) => Some(Feed::Results(last, FlowMode::FailFast)),
                        None => input,
                    };
                    let (output, part) = self.canvas(&step_path, step, feed, depth + 1)?;
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
            Some(Kind::Map(map)) => {
                let path = format!("{path}.map.task");
                let Some(signature) = map.task else {
                    return Err(FieldError::invalid(path, "a map needs its task"));
                };
                let signature = mapped(&path, signature, map.star)?.0;
                let output = self.task(&path, signature, input)?;
                let index = u32::try_from(self.tasks.len() - 1).unwrap_or(u32::MAX);
                Ok((output, tree(Tree::Task(index))))
            }
            Some(Kind::Chunks(chunks)) => {
                let size_path = format!("{path}.chunks.size");
                let path = format!("{path}.chunks.task");
                let Some(signature) = chunks.task else {
                    return Err(FieldError::invalid(path, "chunks need their task"));
                };
                let size = usize::try_from(chunks.size)
                    .ok()
                    .filter(|n| (1..=MAX_MAP_ITEMS).contains(n))
                    .ok_or_else(|| {
                        FieldError::invalid(
                            size_path,
                            format!("{} is not 1 to {MAX_MAP_ITEMS}", chunks.size),
                        )
                    })?;
                let (signature, items) = mapped(&path, signature, true)?;
                let mut outputs = Vec::new();
                let mut parts = Vec::new();
                for chunk in items.chunks(size) {
                    let mut member = signature.clone();
                    if let Some(spec) = member.task.as_mut() {
                        spec.payload = serde_json::to_vec(chunk).unwrap_or_default().into();
                    }
                    outputs.push(self.task(&path, member, input)?);
                    let index = u32::try_from(self.tasks.len() - 1).unwrap_or(u32::MAX);
                    parts.push(tree(Tree::Task(index)));
                }
                Ok((
                    Output::List(outputs),
                    tree(Tree::Group(pb::WorkflowTrees { parts })),
                ))
            }
            Some(Kind::Chord(chord)) => {
                let mode = chord_mode(chord.policy, &format!("{path}.chord.policy"))?;
                let header_path = format!("{path}.chord.header");
                let (header, header_trees) =
                    self.group(&header_path, chord.header, input, depth)?;
                let body_path = format!("{path}.chord.body");
                let Some(body) = chord.body else {
                    return Err(FieldError::invalid(body_path, "a chord needs a body"));
                };
                let feed = Some(Feed::Results(&header, mode));
                let (output, body) = self.canvas(&body_path, *body, feed, depth + 1)?;
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
        input: Option<Feed<'_>>,
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
        input: Option<Feed<'_>>,
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
        let (parents, shape, mode, errback) = match input {
            None => (Vec::new(), None, FlowMode::FailFast, false),
            Some(Feed::Results(output, mode)) => {
                let mut parents = Vec::new();
                output.tasks(&mut parents);
                (parents, Some(output.shape(&mut 0)), mode, false)
            }
            Some(Feed::Failures(watched)) => {
                let slots = (0u32..).take(watched.len()).map(Shape::Slot).collect();
                let shape = Some(Shape::List(slots));
                (watched.to_vec(), shape, FlowMode::Errback, true)
            }
        };
        self.edges += parents.len();
        if self.edges > MAX_WORKFLOW_EDGES {
            return Err(FieldError::invalid(
                path,
                format!(
                    "a workflow passes at most {MAX_WORKFLOW_EDGES} results (a step after a \
                     group of n takes n)"
                ),
            ));
        }
        let inputs = u32::try_from(parents.len()).unwrap_or(u32::MAX);
        for (slot, parent) in (0u32..).zip(parents) {
            if let Some(flow) = self.tasks.get_mut(parent).and_then(|t| t.flow.as_mut()) {
                flow.feeds.push((index, slot));
            }
        }
        task.body.input = shape.map(|shape| InputShape {
            shape,
            immutable: signature.immutable,
            errback,
        });
        task.flow = Some(NewFlow {
            inputs,
            feeds: Vec::new(),
            workflow: 0,
            mode,
            key_feeds: Vec::new(),
        });
        self.tasks.push(task);
        Ok(Output::Task(index))
    }
}
