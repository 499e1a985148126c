//! `stalk schedules …`: periodic schedules stored in the broker.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use serde::Deserialize;
use serde_json::{json, Value};
use stalk_client::{Client, Misfire, Overlap, Recurrence, Schedule, ScheduleInfo, Task};
use stalk_proto::duration::format_duration;

use crate::commands::{emit, emit_json};
use crate::exit::CliError;
use crate::parse::{parse_duration, parse_json, parse_positive_duration, parse_time};
use crate::render::time_text;

/// `stalk schedules …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// Create a schedule, or replace the one of the same name.
    Add(Box<AddArgs>),
    /// Apply a JSON file of schedules (a list of objects with the `add` options); applying the
    /// same file again changes nothing.
    Apply {
        /// The file.
        file: PathBuf,
    },
    /// List the schedules.
    List,
    /// Show one schedule.
    Show {
        /// The schedule.
        name: String,
    },
    /// Pause a schedule: its slots are missed until it resumes.
    Pause {
        /// The schedule.
        name: String,
    },
    /// Resume a paused schedule; its misfire policy decides about the missed slots.
    Resume {
        /// The schedule.
        name: String,
    },
    /// Delete a schedule (the tasks it enqueued stay).
    Remove {
        /// The schedule.
        name: String,
    },
    /// Show the next fire times in the schedule's zone.
    Next {
        /// The schedule.
        name: String,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: u32,
    },
}

/// What `add` misses.
#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum MisfireArg {
    /// Fire only missed slots within the grace window.
    Skip,
    /// One run for all missed slots.
    RunOnce,
    /// Every missed slot.
    RunAll,
}

/// What `add` does with overlapping runs.
#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OverlapArg {
    /// Fire anyway.
    Allow,
    /// Not while the previous run waits or runs.
    Skip,
    /// At most one run waiting.
    BufferOne,
}

/// `stalk schedules add`.
#[derive(Debug, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddArgs {
    /// The schedule's name (1 to 107 letters, digits and ._-:).
    pub(crate) name: String,
    /// The task type each slot enqueues.
    #[arg(long)]
    pub(crate) task: String,
    /// Fire every this long (at least 1s).
    #[arg(long, value_parser = parse_positive_duration, group = "when")]
    #[serde(default, with = "crate::parse::duration_opt")]
    pub(crate) every: Option<Duration>,
    /// Fire at the times of this crontab expression (5 fields, or 6 with seconds first).
    #[arg(long, group = "when")]
    #[serde(default)]
    pub(crate) cron: Option<String>,
    /// The crontab's IANA time zone, e.g. Europe/Berlin [default: UTC].
    #[arg(long, requires = "cron")]
    #[serde(default)]
    pub(crate) tz: Option<String>,
    /// Fire once at this time: RFC 3339 or milliseconds since the Unix epoch.
    #[arg(long, value_parser = parse_time, group = "when")]
    #[serde(default, with = "crate::parse::time_opt")]
    pub(crate) at: Option<SystemTime>,
    /// The task's queue [default: default].
    #[arg(long)]
    #[serde(default)]
    pub(crate) queue: Option<String>,
    /// The task's payload as a JSON document.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    // `json` is the key files written before the flag was renamed (--json is now the output
    // format, on every command) use.
    #[serde(default, alias = "json")]
    pub(crate) payload: Option<Value>,
    /// The task's priority, 0 to 9.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    #[serde(default)]
    pub(crate) priority: Option<u8>,
    /// Missed slots (while the broker was down or the schedule paused).
    #[arg(long, value_enum, default_value_t = MisfireArg::Skip)]
    #[serde(default = "skip")]
    pub(crate) misfire: MisfireArg,
    /// How late a slot may still fire as on time [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::parse::duration_opt")]
    pub(crate) grace: Option<Duration>,
    /// A slot that comes while the previous run is unfinished.
    #[arg(long, value_enum, default_value_t = OverlapArg::Allow)]
    #[serde(default = "allow")]
    pub(crate) overlap: OverlapArg,
    /// Create it paused.
    #[arg(long)]
    #[serde(default)]
    pub(crate) paused: bool,
}

impl From<Misfire> for MisfireArg {
    fn from(misfire: Misfire) -> Self {
        match misfire {
            Misfire::Skip => Self::Skip,
            Misfire::RunOnce => Self::RunOnce,
            Misfire::RunAll => Self::RunAll,
        }
    }
}

impl From<Overlap> for OverlapArg {
    fn from(overlap: Overlap) -> Self {
        match overlap {
            Overlap::Allow => Self::Allow,
            Overlap::Skip => Self::Skip,
            Overlap::BufferOne => Self::BufferOne,
        }
    }
}

/// A value as its flag spells it (`run-once`), so output can be pasted back into a command.
fn flag_value(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

fn skip() -> MisfireArg {
    MisfireArg::Skip
}

fn allow() -> OverlapArg {
    OverlapArg::Allow
}

/// The schedule `args` describe.
fn build(args: &AddArgs) -> anyhow::Result<Schedule> {
    let mut task = Task::new(args.task.as_str());
    if let Some(value) = &args.payload {
        task = task.json(value)?;
    }
    if let Some(queue) = &args.queue {
        task = task.queue(queue.as_str());
    }
    if let Some(priority) = args.priority {
        task = task.priority(priority);
    }
    let name = args.name.as_str();
    let mut schedule = match (&args.every, &args.cron, &args.at) {
        (Some(every), None, None) => Schedule::every(name, *every, task),
        (None, Some(cron), None) => Schedule::cron(
            name,
            cron.as_str(),
            args.tz.clone().unwrap_or_default(),
            task,
        ),
        (None, None, Some(at)) => Schedule::once(name, *at, task),
        _ => {
            return Err(CliError::Usage(format!(
                "schedule {name}: give exactly one of --every, --cron and --at"
            ))
            .into())
        }
    };
    schedule = schedule
        .misfire(match args.misfire {
            MisfireArg::Skip => Misfire::Skip,
            MisfireArg::RunOnce => Misfire::RunOnce,
            MisfireArg::RunAll => Misfire::RunAll,
        })
        .overlap(match args.overlap {
            OverlapArg::Allow => Overlap::Allow,
            OverlapArg::Skip => Overlap::Skip,
            OverlapArg::BufferOne => Overlap::BufferOne,
        })
        .paused(args.paused);
    if let Some(grace) = args.grace {
        schedule = schedule.grace(grace);
    }
    Ok(schedule)
}

/// Reads and checks a schedules file before anything is sent.
pub(crate) fn read_file(path: &PathBuf) -> anyhow::Result<Vec<Schedule>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot read the schedules file {}: {e}",
            path.display()
        ))
    })?;
    let entries: Vec<AddArgs> = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "the schedules file {} is not a JSON list of schedules: {e}",
            path.display()
        ))
    })?;
    entries.iter().map(build).collect()
}

fn when_text(when: &Recurrence) -> String {
    match when {
        Recurrence::Every(every) => format!("every {}", format_duration(*every)),
        Recurrence::Cron {
            expression,
            time_zone,
        } => format!("cron {expression} ({time_zone})"),
        Recurrence::Once(at) => format!("once at {}", time_text(Some(*at))),
    }
}

fn info_json(info: &ScheduleInfo) -> Value {
    json!({
        "name": info.name,
        "when": when_text(&info.when),
        "task": info.task_name,
        "queue": info.queue,
        "paused": info.paused,
        "misfire": flag_value(MisfireArg::from(info.misfire)),
        "grace_s": info.grace.as_secs_f64(),
        "overlap": flag_value(OverlapArg::from(info.overlap)),
        "next_fire": info.next_fire.map(|t| time_text(Some(t))),
        "last_fire": info.last_fire.map(|t| time_text(Some(t))),
        "last_task_id": info.last_task_id,
    })
}

fn info_text(info: &ScheduleInfo) -> String {
    format!(
        "name       {}\nwhen       {}\ntask       {} on {}\npaused     {}\nmisfire    {} (grace {})\noverlap    {}\nnext fire  {}\nlast fire  {}\nlast task  {}\n",
        info.name,
        when_text(&info.when),
        info.task_name,
        info.queue,
        if info.paused { "yes" } else { "no" },
        flag_value(MisfireArg::from(info.misfire)),
        format_duration(info.grace),
        flag_value(OverlapArg::from(info.overlap)),
        time_text(info.next_fire),
        time_text(info.last_fire),
        info.last_task_id.as_deref().unwrap_or("-"),
    )
}

fn show(info: &ScheduleInfo, json: bool) -> anyhow::Result<()> {
    if json {
        emit_json(&info_json(info))
    } else {
        emit(&info_text(info))
    }
}

/// Builds what can be built before connecting, so bad flags are usage errors with no broker.
pub(crate) fn prepare(command: &ScheduleCommand) -> anyhow::Result<Vec<Schedule>> {
    match command {
        ScheduleCommand::Add(args) => Ok(vec![build(args)?]),
        ScheduleCommand::Apply { file } => read_file(file),
        _ => Ok(Vec::new()),
    }
}

/// Runs a `schedules` command.
pub(crate) async fn run(
    client: &Client,
    command: ScheduleCommand,
    prepared: Vec<Schedule>,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        ScheduleCommand::Add(_) => {
            for schedule in prepared {
                show(&client.put_schedule(schedule).await?, json)?;
            }
            Ok(())
        }
        ScheduleCommand::Apply { .. } => {
            let mut applied = Vec::new();
            for schedule in prepared {
                applied.push(client.put_schedule(schedule).await?);
            }
            if json {
                emit_json(&Value::Array(applied.iter().map(info_json).collect()))
            } else {
                let names: Vec<&str> = applied.iter().map(|s| s.name.as_str()).collect();
                emit(&format!(
                    "applied {} schedule(s): {}\n",
                    names.len(),
                    names.join(", ")
                ))
            }
        }
        ScheduleCommand::List => {
            let schedules = client.schedules().await?;
            if json {
                return emit_json(&Value::Array(schedules.iter().map(info_json).collect()));
            }
            let mut table =
                crate::table::Table::new(&["NAME", "WHEN", "TASK", "QUEUE", "NEXT", "PAUSED"]);
            for s in &schedules {
                table.row(vec![
                    s.name.clone(),
                    when_text(&s.when),
                    s.task_name.clone(),
                    s.queue.clone(),
                    time_text(s.next_fire),
                    if s.paused { "yes" } else { "no" }.into(),
                ]);
            }
            emit(&table.render())
        }
        ScheduleCommand::Show { name } => show(&client.schedule(&name).await?, json),
        ScheduleCommand::Pause { name } => show(&client.pause_schedule(&name, true).await?, json),
        ScheduleCommand::Resume { name } => show(&client.pause_schedule(&name, false).await?, json),
        ScheduleCommand::Remove { name } => {
            client.delete_schedule(&name).await?;
            if json {
                emit_json(&json!({ "removed": name }))
            } else {
                emit(&format!("removed {name}\n"))
            }
        }
        ScheduleCommand::Next { name, count } => {
            let times = client.preview_schedule(&name, count).await?;
            if json {
                let list = times
                    .iter()
                    .map(|(_, local)| Value::String(local.clone()))
                    .collect();
                emit_json(&Value::Array(list))
            } else {
                let lines: String = times
                    .iter()
                    .map(|(_, local)| format!("{local}\n"))
                    .collect();
                emit(&lines)
            }
        }
    }
}
