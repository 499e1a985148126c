//! `stalk workflow …`: submit a workflow from a JSON description, and draw one's tree with each
//! task's state.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Map, Value};
use stalk_client::{Canvas, ChordPolicy, Client, Task, TaskStatus, WorkflowStatus, WorkflowTree};

use crate::commands::emit_json;
use crate::exit::CliError;

/// `stalk workflow …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// Submit a workflow described in a JSON file (`-` reads standard input) and print its id
    /// and its tasks' ids. A task is `{"task": NAME, "args": [...]}` (also `queue`,
    /// `priority`, `max_retries`, `immutable`); parts are `{"chain": [...]}`,
    /// `{"group": [...]}` and `{"chord": {"header": [...], "body": ..., "policy":
    /// "fail_fast"|"wait_all"|"partial"}}`, `{"map": TASK}`, `{"starmap": TASK}` and
    /// `{"chunks": TASK, "size": N}` (the task's args are the items); any part takes
    /// `"link": [...]` and `"link_error": [tasks]`.
    Submit {
        /// The file.
        file: PathBuf,
    },
    /// Draw a workflow's tree with each task's state and result or error.
    Show {
        /// The workflow id (`stalk workflow submit` prints it).
        id: String,
    },
}

/// Reads the canvas `submit` sends, before connecting: a bad file is a usage error.
pub(crate) fn prepare(command: &WorkflowCommand) -> Result<Option<Canvas>, CliError> {
    match command {
        WorkflowCommand::Submit { file } => {
            let text = read(file)?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
            canvas("workflow", &value)
                .map(Some)
                .map_err(CliError::Usage)
        }
        WorkflowCommand::Show { .. } => Ok(None),
    }
}

fn read(file: &Path) -> Result<String, CliError> {
    let read = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    read.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))
}

/// Runs `stalk workflow …`.
pub(crate) async fn run(
    client: &Client,
    command: WorkflowCommand,
    prepared: Option<Canvas>,
    json: bool,
) -> anyhow::Result<()> {
    match (command, prepared) {
        (WorkflowCommand::Submit { .. }, Some(canvas)) => {
            let flow = client.enqueue_workflow(canvas).await?;
            if json {
                emit_json(&json!({"workflow_id": flow.id, "task_ids": flow.task_ids}))
            } else {
                let mut text = format!("workflow {}\n", flow.id);
                for id in &flow.task_ids {
                    text.push_str(&format!("  task {id}\n"));
                }
                crate::commands::emit(&text)
            }
        }
        (WorkflowCommand::Show { id }, _) => {
            let status = client.workflow(&id).await?;
            if json {
                emit_json(&status_json(&status))
            } else {
                crate::commands::emit(&draw(&status))
            }
        }
        (WorkflowCommand::Submit { .. }, None) => {
            Err(CliError::Usage("the workflow was not read".into()).into())
        }
    }
}

/// A canvas from its JSON description; the error names where it is wrong.
fn canvas(path: &str, value: &Value) -> Result<Canvas, String> {
    let Some(object) = value.as_object() else {
        return Err(format!(
            "{path}: expected an object with task, chain, group or chord"
        ));
    };
    let mut part = part(path, object)?;
    if let Some(links) = object.get("link") {
        for callback in list(path, "link", links)? {
            part = part.link(callback);
        }
    }
    if let Some(errbacks) = object.get("link_error") {
        let errbacks = errbacks
            .as_array()
            .ok_or_else(|| format!("{path}.link_error: expected a list of tasks"))?;
        for (i, errback) in errbacks.iter().enumerate() {
            let at = format!("{path}.link_error[{i}]");
            let errback = errback
                .as_object()
                .filter(|o| o.contains_key("task"))
                .ok_or_else(|| format!("{at}: expected a task"))?;
            part = part.link_error(task(&at, errback)?.0);
        }
    }
    Ok(part)
}

/// The parts of `value` (a list) at `path.key`.
fn list(path: &str, key: &str, value: &Value) -> Result<Vec<Canvas>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("{path}.{key}: expected a list"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| canvas(&format!("{path}.{key}[{i}]"), item))
        .collect()
}

/// The chain, group, chord or task an object describes (without its callbacks).
fn part(path: &str, object: &Map<String, Value>) -> Result<Canvas, String> {
    if let Some(steps) = object.get("chain") {
        return list(path, "chain", steps).map(Canvas::Chain);
    }
    if let Some(members) = object.get("group") {
        return list(path, "group", members).map(Canvas::Group);
    }
    if let Some(chord) = object.get("chord") {
        let header = chord
            .get("header")
            .ok_or_else(|| format!("{path}.chord: expected a header"))?;
        let body = chord
            .get("body")
            .ok_or_else(|| format!("{path}.chord: expected a body"))?;
        let policy = match chord.get("policy").map(|p| p.as_str()) {
            None | Some(Some("fail_fast")) => ChordPolicy::FailFast,
            Some(Some("wait_all")) => ChordPolicy::WaitAll,
            Some(Some("partial")) => ChordPolicy::Partial,
            Some(_) => {
                return Err(format!(
                    "{path}.chord.policy: expected fail_fast, wait_all or partial"
                ))
            }
        };
        return Ok(Canvas::Chord {
            header: list(path, "chord.header", header)?,
            body: Box::new(canvas(&format!("{path}.chord.body"), body)?),
            policy,
        });
    }
    for (key, star) in [("map", false), ("starmap", true)] {
        if let Some(inner) = object.get(key) {
            let inner = inner
                .as_object()
                .ok_or_else(|| format!("{path}.{key}: expected a task whose args are the items"))?;
            let (task, _) = task(&format!("{path}.{key}"), inner)?;
            return Ok(if star {
                Canvas::starmap(task)
            } else {
                Canvas::map(task)
            });
        }
    }
    if let Some(inner) = object.get("chunks") {
        let inner = inner
            .as_object()
            .ok_or_else(|| format!("{path}.chunks: expected a task whose args are the items"))?;
        let size = object
            .get("size")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{path}.size: expected the items per chunk"))?;
        let (task, _) = task(&format!("{path}.chunks"), inner)?;
        return Ok(Canvas::chunks(task, size));
    }
    if object.contains_key("task") {
        return task(path, object).map(|(task, immutable)| {
            if immutable {
                Canvas::immutable(task)
            } else {
                Canvas::from(task)
            }
        });
    }
    Err(format!(
        "{path}: expected one of task, chain, group or chord"
    ))
}

/// A task and whether it is immutable.
fn task(path: &str, object: &Map<String, Value>) -> Result<(Task, bool), String> {
    let field = |name: &str| object.get(name);
    let name = field("task")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{path}.task: expected the task's name"))?;
    let mut task = Task::new(name);
    if let Some(queue) = field("queue") {
        let queue = queue
            .as_str()
            .ok_or_else(|| format!("{path}.queue: expected a queue name"))?;
        task = task.queue(queue);
    }
    if let Some(args) = field("args") {
        task = task.json(args).map_err(|e| format!("{path}.args: {e}"))?;
    }
    if let Some(priority) = field("priority") {
        let priority = priority
            .as_u64()
            .and_then(|p| u8::try_from(p).ok())
            .ok_or_else(|| format!("{path}.priority: expected 0 to 9"))?;
        task = task.priority(priority);
    }
    if let Some(retries) = field("max_retries") {
        let retries = retries
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .ok_or_else(|| format!("{path}.max_retries: expected a count"))?;
        task = task.max_retries(retries);
    }
    let immutable = match field("immutable") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{path}.immutable: expected true or false")),
    };
    const KNOWN: [&str; 8] = [
        "task",
        "queue",
        "args",
        "priority",
        "max_retries",
        "immutable",
        "link",
        "link_error",
    ];
    for key in object.keys() {
        if !KNOWN.contains(&key.as_str()) {
            return Err(format!(
                "{path}.{key}: unknown; a task takes task, args, queue, priority, max_retries, \
                 immutable, link and link_error"
            ));
        }
    }
    Ok((task, immutable))
}

/// The tree as indented text, a task per line with its state and result or error.
fn draw(status: &WorkflowStatus) -> String {
    let verdict = match (status.finished, status.succeeded) {
        (true, true) => "succeeded",
        (true, false) => "finished, not all succeeded",
        (false, _) => "running",
    };
    let mut out = format!("workflow {} ({verdict})\n", status.id);
    draw_tree(status, &status.tree, 1, &mut out);
    // Callbacks (link, link_error) are tasks outside the tree and its grafts.
    let mut in_tree = Vec::new();
    leaves(&status.tree, &mut in_tree);
    for graft in &status.grafts {
        graft
            .replaced_by
            .iter()
            .for_each(|t| leaves(t, &mut in_tree));
        graft.added.iter().for_each(|t| leaves(t, &mut in_tree));
    }
    let callbacks: Vec<&TaskStatus> = (0..status.tasks.len())
        .filter(|i| !in_tree.contains(i))
        .filter_map(|i| status.tasks.get(i))
        .collect();
    if !callbacks.is_empty() {
        out.push_str("  callbacks\n");
        for task in callbacks {
            out.push_str(&format!("    {}\n", task_line(task)));
        }
    }
    out
}

fn leaves(tree: &WorkflowTree, out: &mut Vec<usize>) {
    match tree {
        WorkflowTree::Task(i) => out.push(*i),
        WorkflowTree::Chain(parts) | WorkflowTree::Group(parts) => {
            parts.iter().for_each(|p| leaves(p, out));
        }
        WorkflowTree::Chord { header, body } => {
            header.iter().for_each(|p| leaves(p, out));
            leaves(body, out);
        }
    }
}

fn draw_tree(status: &WorkflowStatus, tree: &WorkflowTree, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    match tree {
        WorkflowTree::Task(i) => {
            match status.tasks.get(*i) {
                Some(task) => out.push_str(&format!("{indent}{}\n", task_line(task))),
                None => out.push_str(&format!("{indent}task {i} (missing)\n")),
            }
            // What the task handed on when it ran.
            for graft in status.grafts.iter().filter(|g| g.task == *i) {
                if let Some(replacement) = &graft.replaced_by {
                    out.push_str(&format!("{indent}  replaced by\n"));
                    draw_tree(status, replacement, depth + 2, out);
                }
                for added in &graft.added {
                    out.push_str(&format!("{indent}  added\n"));
                    draw_tree(status, added, depth + 2, out);
                }
            }
        }
        WorkflowTree::Chain(parts) | WorkflowTree::Group(parts) => {
            let kind = if matches!(tree, WorkflowTree::Chain(_)) {
                "chain"
            } else {
                "group"
            };
            out.push_str(&format!("{indent}{kind}\n"));
            for part in parts {
                draw_tree(status, part, depth + 1, out);
            }
        }
        WorkflowTree::Chord { header, body } => {
            out.push_str(&format!("{indent}chord\n{indent}  header\n"));
            for part in header {
                draw_tree(status, part, depth + 2, out);
            }
            out.push_str(&format!("{indent}  body\n"));
            draw_tree(status, body, depth + 2, out);
        }
    }
}

fn task_line(task: &TaskStatus) -> String {
    let detail = match (&task.result, &task.error) {
        (_, Some(error)) => format!("  {}: {}", error.kind, error.message),
        (Some(result), None) => format!("  = {}", String::from_utf8_lossy(&result.value)),
        (None, None) => String::new(),
    };
    format!("{}  {}  {}{detail}", task.name, task.id, task.state)
}

fn status_json(status: &WorkflowStatus) -> Value {
    fn tree_json(status: &WorkflowStatus, tree: &WorkflowTree) -> Value {
        match tree {
            WorkflowTree::Task(i) => status.tasks.get(*i).map_or(Value::Null, |task| {
                let mut node = json!({
                    "task": task.name,
                    "id": task.id,
                    "state": task.state.as_str(),
                    "result": task.json::<Value>().ok(),
                    "error": task.error.as_ref().map(|e| json!({"kind": e.kind, "message": e.message})),
                });
                for graft in status.grafts.iter().filter(|g| g.task == *i) {
                    if let Some(replacement) = &graft.replaced_by {
                        node["replaced_by"] = tree_json(status, replacement);
                    }
                    if !graft.added.is_empty() {
                        node["added"] = graft.added.iter().map(|t| tree_json(status, t)).collect();
                    }
                }
                node
            }),
            WorkflowTree::Chain(parts) => {
                json!({"chain": parts.iter().map(|p| tree_json(status, p)).collect::<Vec<_>>()})
            }
            WorkflowTree::Group(parts) => {
                json!({"group": parts.iter().map(|p| tree_json(status, p)).collect::<Vec<_>>()})
            }
            WorkflowTree::Chord { header, body } => json!({"chord": {
                "header": header.iter().map(|p| tree_json(status, p)).collect::<Vec<_>>(),
                "body": tree_json(status, body),
            }}),
        }
    }
    json!({
        "workflow_id": status.id,
        "finished": status.finished,
        "succeeded": status.succeeded,
        "tree": tree_json(status, &status.tree),
    })
}
