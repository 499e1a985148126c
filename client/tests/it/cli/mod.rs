//! The `stalk` binary, run as a child process against a real broker: what it prints on stdout
//! and stderr, its `--json` documents, and its exit codes (0 ok, 1 refused or the task did not
//! succeed, 2 usage, 3 broker unreachable, 4 unknown task, 5 timed out).
//!
//! The tests run on a multi-thread runtime so the in-process broker serves while a child runs.
//!
//! - `enqueue`: human and JSON output, options that reach the broker, idempotent ids, refusals.
//! - `result`: finished tasks, `--wait` until a worker acks, failed, unknown and timed out.
//! - `inspect`: `queues` and `tasks` tables and JSON, lease order and paging.
//! - `control`: `revoke`, `dead list|replay|purge`, `purge`.
//! - `limits`: `limits set|list|remove` with rates, caps and keyed limits.
//! - `schedules`: `schedules add|apply|list|show|next|pause|remove` and bad specs.
//! - `workers`: `control ping|shutdown|time-limit|custom|pool-grow|…` through the broker to a
//!   worker session.
//! - `events`: `events` (text, JSON lines, filters, reconnecting) and `task ID --history`.
//! - `inspect_workers`: `inspect active|reserved|registered|stats` of a hand-made worker.
//! - `top`: `top` refused without a terminal, and under tmux: a failure as it happens, keys.
//! - `errors`: bad flags and addresses, a broker that is not there, bearer tokens.
//! - `workflow`: `workflow submit FILE` and `workflow show ID`.
//! - `health`: `health`, as a container's health check runs it.

mod control;
mod enqueue;
mod errors;
mod events;
mod health;
mod inspect;
mod inspect_workers;
mod limits;
mod result;
mod schedules;
mod top;
mod workers;
mod workflow;
