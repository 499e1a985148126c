//! Control commands for workers: the wire form checked into a [`WorkerCommand`] and back, and a
//! worker's `consume` (its new queue set). The broker checks what it can (names, counts,
//! durations); what only a worker can judge (its task names, its last queue) it answers.

use stalk_proto::v1 as pb;
use stalk_proto::v1::worker_command::Kind;

use super::{
    in_range, lease_queues, name, FieldError, MAX_BACKOFF_MS, MAX_HEADERS, MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
};
use crate::sessions::WorkerCommand;

/// Most slots one `pool_grow` or `pool_shrink` may name: the worker's cap on its pool.
const MAX_POOL_CHANGE: u32 = 1024;

/// Checks a command from Admin.ControlWorkers.
pub(crate) fn worker_command(
    command: Option<pb::WorkerCommand>,
) -> Result<WorkerCommand, FieldError> {
    let missing = || {
        FieldError::invalid(
            "command",
            "give a command: ping, shutdown, time_limit, add_consumer, cancel_consumer, \
             pool_grow, pool_shrink or custom",
        )
    };
    Ok(match command.and_then(|c| c.kind).ok_or_else(missing)? {
        Kind::Ping(_) => WorkerCommand::Ping,
        Kind::Shutdown(_) => WorkerCommand::Shutdown,
        Kind::TimeLimit(limit) => time_limit(limit)?,
        Kind::AddConsumer(add) => {
            name("command.add_consumer.queue", &add.queue)?;
            WorkerCommand::AddConsumer(add.queue)
        }
        Kind::CancelConsumer(cancel) => {
            name("command.cancel_consumer.queue", &cancel.queue)?;
            WorkerCommand::CancelConsumer(cancel.queue)
        }
        Kind::PoolGrow(grow) => {
            pool_change("command.pool_grow.slots", grow.slots)?;
            WorkerCommand::PoolGrow(grow.slots)
        }
        Kind::PoolShrink(shrink) => {
            pool_change("command.pool_shrink.slots", shrink.slots)?;
            WorkerCommand::PoolShrink(shrink.slots)
        }
        Kind::Custom(custom) => {
            name("command.custom.name", &custom.name)?;
            command_args(&custom.args)?;
            WorkerCommand::Custom {
                name: custom.name,
                args: custom.args.into_iter().collect(),
            }
        }
    })
}

fn time_limit(limit: pb::TimeLimit) -> Result<WorkerCommand, FieldError> {
    name("command.time_limit.task_name", &limit.task_name)?;
    if limit.hard_ms == 0 {
        return Err(FieldError::invalid(
            "command.time_limit.hard_ms",
            "is required: the hard limit in ms, at least 1",
        ));
    }
    in_range(
        "command.time_limit.hard_ms",
        limit.hard_ms,
        (1, MAX_BACKOFF_MS),
    )?;
    if limit.soft_ms > limit.hard_ms {
        return Err(FieldError::invalid(
            "command.time_limit.soft_ms",
            format!(
                "{} ms is more than the hard limit ({} ms); a soft limit comes first",
                limit.soft_ms, limit.hard_ms
            ),
        ));
    }
    Ok(WorkerCommand::TimeLimit {
        task_name: limit.task_name,
        hard_ms: limit.hard_ms,
        soft_ms: (limit.soft_ms > 0).then_some(limit.soft_ms),
    })
}

fn pool_change(field: &str, slots: u32) -> Result<(), FieldError> {
    in_range(field, u64::from(slots), (1, u64::from(MAX_POOL_CHANGE)))
}

/// Checks a custom command's arguments: as many and as long as a task's headers may be.
fn command_args(args: &std::collections::HashMap<String, String>) -> Result<(), FieldError> {
    if args.len() > MAX_HEADERS {
        return Err(FieldError::invalid(
            "command.custom.args",
            format!("holds {} entries; at most {MAX_HEADERS}", args.len()),
        ));
    }
    for (key, value) in args {
        if key.is_empty() || key.len() > MAX_HEADER_NAME {
            return Err(FieldError::invalid(
                "command.custom.args",
                format!("key {key:?} must be 1 to {MAX_HEADER_NAME} bytes"),
            ));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(FieldError::invalid(
                format!("command.custom.args[{key}]"),
                format!("is {} bytes long; at most {MAX_HEADER_VALUE}", value.len()),
            ));
        }
    }
    Ok(())
}

/// The wire form of a command, as a session sends it to its worker.
pub(crate) fn wire_command(command: WorkerCommand) -> pb::WorkerCommand {
    let kind = match command {
        WorkerCommand::Ping => Kind::Ping(pb::Ping {}),
        WorkerCommand::Shutdown => Kind::Shutdown(pb::Shutdown {}),
        WorkerCommand::TimeLimit {
            task_name,
            hard_ms,
            soft_ms,
        } => Kind::TimeLimit(pb::TimeLimit {
            task_name,
            hard_ms,
            soft_ms: soft_ms.unwrap_or(0),
        }),
        WorkerCommand::AddConsumer(queue) => Kind::AddConsumer(pb::AddConsumer { queue }),
        WorkerCommand::CancelConsumer(queue) => Kind::CancelConsumer(pb::CancelConsumer { queue }),
        WorkerCommand::PoolGrow(slots) => Kind::PoolGrow(pb::PoolGrow { slots }),
        WorkerCommand::PoolShrink(slots) => Kind::PoolShrink(pb::PoolShrink { slots }),
        WorkerCommand::Custom { name, args } => Kind::Custom(pb::CustomCommand {
            name,
            args: args.into_iter().collect(),
        }),
    };
    pb::WorkerCommand { kind: Some(kind) }
}

/// Checks a worker's new queue set: the same limits as its `hello`.
pub(crate) fn consume_queues(consume: pb::Consume) -> Result<Vec<String>, FieldError> {
    lease_queues(&consume.queues).map_err(|err| FieldError {
        field: format!("consume.{}", err.field),
        ..err
    })?;
    Ok(consume.queues)
}
