//! One function per command: build the request, call the broker, print the answer.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use stalk_client::{is_json_content_type, Client, ClientError, Task, TaskState, TaskSummary};

use crate::args::{
    Cli, Command, ConnArgs, DeadCommand, EnqueueArgs, QueueCommand, ResultArgs, TasksArgs,
};
use crate::exit::CliError;
use crate::render;

/// The largest page the broker serves.
const MAX_PAGE: u32 = 1000;

/// Runs the command the user asked for.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        conn,
        json,
        command,
    } = cli;
    match command {
        Command::Enqueue(args) => {
            // Built before connecting, so a bad payload is a usage error even with no broker.
            let task = build_task(&args)?;
            enqueue(&connect(&conn).await?, task, json).await
        }
        Command::Result(args) => result(&connect(&conn).await?, args, json).await,
        Command::Queues { action: None } => queues(&connect(&conn).await?, json).await,
        Command::Queues {
            action: Some(QueueCommand::Pause { queue }),
        } => pause(&connect(&conn).await?, &queue, true, json).await,
        Command::Queues {
            action: Some(QueueCommand::Resume { queue }),
        } => pause(&connect(&conn).await?, &queue, false, json).await,
        Command::Workers => workers(&connect(&conn).await?, json).await,
        Command::Health { service } => health(&connect(&conn).await?, &service, json).await,
        Command::Inspect { what, workers } => {
            crate::inspect::run(&connect(&conn).await?, what, &workers, json).await
        }
        Command::Limits(command) => crate::limits::run(&connect(&conn).await?, command, json).await,
        Command::Schedules(command) => {
            // Built before connecting, so a bad flag or file is a usage error with no broker.
            let prepared = crate::schedules::prepare(&command)?;
            crate::schedules::run(&connect(&conn).await?, command, prepared, json).await
        }
        Command::Workflow(command) => {
            // Read before connecting, so a bad file is a usage error with no broker.
            let prepared = crate::workflow::prepare(&command)?;
            crate::workflow::run(&connect(&conn).await?, command, prepared, json).await
        }
        Command::Control(command) => {
            crate::control::run(&connect(&conn).await?, command, json).await
        }
        Command::Tasks(args) => tasks(&connect(&conn).await?, args, json).await,
        Command::Revoke {
            ids,
            headers,
            remember,
        } => {
            let client = connect(&conn).await?;
            if !headers.is_empty() {
                revoke_by_headers(&client, &headers, remember, json).await?;
            }
            if ids.is_empty() {
                return Ok(());
            }
            revoke(&client, &ids, json).await
        }
        Command::Dead(DeadCommand::List { queue, limit }) => {
            dead_list(&connect(&conn).await?, &queue, limit, json).await
        }
        Command::Dead(DeadCommand::Replay { queue, ids, limit }) => {
            dead_replay(&connect(&conn).await?, &queue, &ids, limit, json).await
        }
        Command::Dead(DeadCommand::Purge { queue }) => {
            purge(&connect(&conn).await?, &queue, true, json).await
        }
        Command::Purge { queue } => purge(&connect(&conn).await?, &queue, false, json).await,
        Command::Completions { shell } => completions(shell),
        Command::Explain { id } => crate::events::explain(&connect(&conn).await?, &id, json).await,
        Command::Events(args) => crate::events::tail(&conn, args, json).await,
        Command::Top(args) => crate::top::run(&conn, args, json).await,
        Command::Task(args) => crate::events::task(&connect(&conn).await?, args, json).await,
    }
}

pub(crate) async fn connect(conn: &ConnArgs) -> anyhow::Result<Client> {
    let mut builder = Client::builder(conn.addr.as_str());
    if let Some(token) = &conn.token {
        builder = builder.auth_token(token.as_str());
    }
    if let Some(path) = &conn.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read the CA certificate {}: {e}",
                path.display()
            ))
        })?;
        builder = builder.tls_ca_pem(pem);
    }
    builder.connect().await.map_err(|err| match err {
        // The library's message cannot name the address; the user needs to see which one.
        ClientError::Connect(_) => anyhow::Error::new(err).context(conn.addr.clone()),
        other => other.into(),
    })
}

/// Turns the enqueue flags into a [`Task`].
fn build_task(args: &EnqueueArgs) -> anyhow::Result<Task> {
    let mut task = Task::new(args.name.as_str());
    if let Some(value) = &args.payload {
        task = task.json(value)?;
    } else if let Some(path) = &args.payload_file {
        let bytes = std::fs::read(path).map_err(|e| {
            CliError::Usage(format!(
                "cannot read the payload file {}: {e}",
                path.display()
            ))
        })?;
        if is_json_content_type(&args.content_type) {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                CliError::Usage(format!(
                    "the payload file {} is not valid JSON ({e}); fix it or pass --content-type",
                    path.display()
                ))
            })?;
        }
        task = task.payload(bytes, args.content_type.as_str());
    }
    if let Some(queue) = &args.queue {
        task = task.queue(queue.as_str());
    }
    if let Some(priority) = args.priority {
        task = task.priority(priority);
    }
    if let Some(delay) = args.countdown {
        task = task.countdown(delay);
    }
    if let Some(at) = args.eta {
        task = task.eta(at);
    }
    if let Some(after) = args.expires_in {
        task = task.expires_in(after);
    }
    if let Some(retries) = args.max_retries {
        task = task.max_retries(retries);
    }
    if let Some(id) = &args.id {
        task = task.id(id.as_str());
    }
    if let Some(key) = &args.unique_key {
        task = task.unique_key(key.as_str());
    }
    for (key, value) in &args.headers {
        task = task.header(key.as_str(), value.as_str());
    }
    Ok(task)
}

async fn enqueue(client: &Client, task: Task, json: bool) -> anyhow::Result<()> {
    let handle = client.enqueue(task).await?;
    if json {
        emit_json(
            &json!({ "id": handle.id, "created": handle.created, "state": handle.state.as_str() }),
        )
    } else {
        let verb = if handle.created { "enqueued" } else { "exists" };
        emit(&format!("{verb} {}\n", handle.id))
    }
}

async fn result(client: &Client, args: ResultArgs, json: bool) -> anyhow::Result<()> {
    let status = match args.wait {
        None => client.result(&args.id, None).await?,
        Some(timeout) => client.wait_for(&args.id, timeout).await?,
    };
    if status.state == TaskState::Unknown {
        return Err(CliError::UnknownTasks { ids: vec![args.id] }.into());
    }
    if json {
        emit_json(&render::status_json(&status))?;
    } else {
        emit(&render::status_text(&status))?;
    }
    let asked_for_success = args.wait.is_some();
    if asked_for_success && status.state != TaskState::Succeeded {
        return Err(CliError::TaskEnded {
            id: status.id,
            state: status.state,
            error: status.error,
        }
        .into());
    }
    Ok(())
}

async fn pause(client: &Client, queue: &str, paused: bool, json: bool) -> anyhow::Result<()> {
    let changed = if paused {
        client.pause_queue(queue).await?
    } else {
        client.resume_queue(queue).await?
    };
    if json {
        return emit_json(&json!({ "queue": queue, "paused": paused, "changed": changed }));
    }
    let text = match (paused, changed) {
        (true, true) => {
            format!("paused {queue}: it leases nothing until `stalk queues resume {queue}`\n")
        }
        (true, false) => format!("{queue} was already paused\n"),
        (false, true) => format!("resumed {queue}\n"),
        (false, false) => format!("{queue} was not paused\n"),
    };
    emit(&text)
}

async fn queues(client: &Client, json: bool) -> anyhow::Result<()> {
    let stats = client.queue_stats(&[]).await?;
    if json {
        emit_json(&render::stats_json(&stats))
    } else {
        emit(&render::stats_table(&stats))
    }
}

async fn workers(client: &Client, json: bool) -> anyhow::Result<()> {
    let workers = client.list_workers().await?;
    if json {
        let list: Vec<Value> = workers
            .iter()
            .map(|w| {
                json!({
                    "worker_id": w.worker_id,
                    "hostname": w.hostname,
                    "pid": w.pid,
                    "queues": w.queues,
                    "task_names": w.task_names,
                    "sdk_version": w.sdk_version,
                    "connected_at": render::time_text(w.connected_at),
                    "last_seen": render::time_text(w.last_seen),
                    "running": w.running.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                    "prefetched": w.prefetched.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                })
            })
            .collect();
        return emit_json(&Value::Array(list));
    }
    let mut table = crate::table::Table::new(&[
        "WORKER",
        "HOST",
        "PID",
        "QUEUES",
        "RUNNING",
        "PREFETCHED",
        "LAST SEEN",
    ]);
    for w in &workers {
        table.row(vec![
            w.worker_id.clone(),
            w.hostname.clone(),
            w.pid.to_string(),
            w.queues.join(","),
            w.running.len().to_string(),
            w.prefetched.len().to_string(),
            render::time_text(w.last_seen),
        ]);
    }
    emit(&table.render())
}

async fn tasks(client: &Client, args: TasksArgs, json: bool) -> anyhow::Result<()> {
    let (tasks, next) = client
        .list_tasks(
            args.queue(),
            args.state,
            args.limit,
            args.page_token.as_deref(),
        )
        .await?;
    if json {
        let tasks: Vec<Value> = tasks.iter().map(render::summary_json).collect();
        return emit_json(&json!({ "tasks": tasks, "next_page_token": next }));
    }
    emit(&render::summaries_table(&tasks))?;
    if let Some(token) = next {
        eprintln!("more tasks: add --page-token {token}");
    }
    Ok(())
}

async fn revoke_by_headers(
    client: &Client,
    headers: &[(String, String)],
    remember: Option<Duration>,
    json: bool,
) -> anyhow::Result<()> {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let report = client.revoke_by_headers(&headers, remember).await?;
    if json {
        let matched: Vec<Value> = report
            .matched
            .iter()
            .map(|r| json!({ "id": r.id, "state": r.state.as_str(), "was": r.was.as_str() }))
            .collect();
        emit_json(&json!({ "matched": matched, "matched_count": report.matched_count }))?;
    } else {
        let mut table = crate::table::Table::new(&["ID", "STATE", "WHAT HAPPENED"]);
        for r in &report.matched {
            table.row(vec![
                r.id.clone(),
                r.state.to_string(),
                r.was.describe().into(),
            ]);
        }
        emit(&table.render())?;
        eprintln!(
            "revoked {} live task(s) by header; tasks arriving with it are refused",
            report.matched_count
        );
    }
    Ok(())
}

async fn revoke(client: &Client, ids: &[String], json: bool) -> anyhow::Result<()> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outcomes = client.revoke(&ids).await?;
    if json {
        let doc: Vec<Value> = outcomes
            .iter()
            .map(|r| json!({ "id": r.id, "state": r.state.as_str(), "was": r.was.as_str() }))
            .collect();
        emit_json(&Value::Array(doc))?;
    } else {
        let mut table = crate::table::Table::new(&["ID", "STATE", "WHAT HAPPENED"]);
        for r in &outcomes {
            table.row(vec![
                r.id.clone(),
                r.state.to_string(),
                r.was.describe().into(),
            ]);
        }
        emit(&table.render())?;
    }
    let unknown: Vec<String> = outcomes
        .into_iter()
        .filter(|r| r.state == TaskState::Unknown)
        .map(|r| r.id)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(CliError::UnknownTasks { ids: unknown }.into())
    }
}

async fn dead_list(client: &Client, queue: &str, limit: u32, json: bool) -> anyhow::Result<()> {
    let mut dead: Vec<TaskSummary> = Vec::new();
    let mut token: Option<String> = None;
    let more = loop {
        let wanted = limit.saturating_sub(u32::try_from(dead.len()).unwrap_or(u32::MAX));
        let (page, next) = client
            .list_tasks(
                queue,
                TaskState::Failed,
                wanted.min(MAX_PAGE),
                token.as_deref(),
            )
            .await?;
        dead.extend(page);
        match next {
            Some(next) if dead.len() < usize::try_from(limit).unwrap_or(usize::MAX) => {
                token = Some(next);
            }
            next => break next.is_some(),
        }
    };
    if json {
        let tasks: Vec<Value> = dead.iter().map(render::summary_json).collect();
        return emit_json(&json!({ "queue": queue, "tasks": tasks, "more": more }));
    }
    emit(&render::summaries_table(&dead))?;
    if more {
        eprintln!("more dead letters than shown: raise --limit");
    }
    Ok(())
}

async fn dead_replay(
    client: &Client,
    queue: &str,
    ids: &[String],
    limit: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let replayed = client.replay_dead_letters(queue, &ids, limit).await?;
    if json {
        return emit_json(&json!({ "queue": queue, "replayed": replayed }));
    }
    let mut text = format!("replayed {} task(s) from {queue}\n", replayed.len());
    for id in &replayed {
        text.push_str(id);
        text.push('\n');
    }
    emit(&text)
}

async fn purge(client: &Client, queue: &str, dead_letters: bool, json: bool) -> anyhow::Result<()> {
    let purged = client.purge_queue(queue, dead_letters).await?;
    if json {
        return emit_json(
            &json!({ "queue": queue, "purged": purged, "dead_letters": dead_letters }),
        );
    }
    let what = if dead_letters {
        "dead letter(s)"
    } else {
        "waiting task(s)"
    };
    emit(&format!("purged {purged} {what} from {queue}\n"))
}

/// Prints a completion script; `stalk completions bash` works without a broker.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "stalk", &mut script);
    emit(&String::from_utf8_lossy(&script))
}

/// Prints `doc` as pretty JSON.
pub(crate) fn emit_json(doc: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(doc).context("encoding the JSON output")?;
    text.push('\n');
    emit(&text)
}

/// Writes to stdout; a closed pipe (`stalk tasks … | head`) is not an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// `stalk health`: SERVING (exit 0) or NOT_SERVING (exit 3).
async fn health(client: &Client, service: &str, json: bool) -> anyhow::Result<()> {
    let serving = client.is_serving(service).await?;
    let status = if serving { "SERVING" } else { "NOT_SERVING" };
    if json {
        println!("{}", json!({"service": service, "status": status}));
    } else {
        println!("{status}");
    }
    if serving {
        Ok(())
    } else {
        Err(CliError::NotServing.into())
    }
}
