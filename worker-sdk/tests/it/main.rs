//! Integration tests of the worker runtime against a real broker on `127.0.0.1:0`.
//!
//! - `cli`: a worker binary's command line: its own `--version`, usage errors exit 2.
//! - `caps`: concurrency caps across workers, per-tenant caps, runtime removal, restarts.
//! - `runs`: tasks run and their results arrive; concurrency bounds what runs at once.
//! - `control`: control commands through the broker to the control step: ping, shutdown,
//!   time limits, user-defined commands, and the broker's refusal of malformed ones.
//! - `consumers`: add and cancel consumers at runtime; prefetched tasks, reconnects (issue 13).
//! - `crash`: a worker process killed with `kill -9` mid-task.
//! - `events`: the event stream names the worker: online, heartbeats, its tasks, offline.
//! - `eta`: countdown and ETA tasks: due order, restart survival, listing, revoke, expiry.
//! - `explain`: the reason that holds a task, in every blocked case, through real workers.
//! - `failures`: retryable and fatal errors, panics, unknown task names.
//! - `handlers`: `?` on standard errors; the task's metadata in the handler's context.
//! - `leases`: the lease keeper extends long tasks; a lost lease stops its attempt.
//! - `logs`: what the demo worker logs: startup and task lines, no color off a terminal, JSON.
//! - `limits`: soft and hard time limits, per task, task type and worker.
//! - `metrics`: the worker's own `/metrics`: a known workload's counts, occupancy, reconnects,
//!   prefork recycles; off by default; a taken port.
//! - `schedules`: a schedule's tasks run on a worker and succeed.
//! - `shutdown`: warm shutdown finishes running tasks and releases the rest.
//! - `rate_limits`: a limit holds across three workers, lets other tasks pass, changes live.
//! - `refused_acks`: an ack the broker refuses is counted by the worker and completes nothing.
//! - `pauses`: a paused queue holds through the prefetch buffer; resuming runs its tasks.
//! - `prometheus`: promtool checks both expositions; a Prometheus server scrapes both.
//! - `priorities`: the prefetch buffer starts tasks in the broker's priority order.
//! - `pool_resize`: pool grow and shrink at runtime: credit, running tasks, floor and cap.
//! - `prefork`: child processes, their recycling, limits and deaths (real worker processes).
//! - `startup`: waiting for a broker that is not there yet; refusals that read as sentences.
//! - `steps`: bootsteps: order, user steps and what they provide, replacement, startup errors.
//! - `traces`: the `task` span names the task and its producer's W3C trace context, and is the
//!   producer span's child in OpenTelemetry (features `opentelemetry`).
//! - `threads`: the threads pool: blocking handlers, time limits.

// Helpers outside #[test] fns are test code too; clippy.toml's allow-unwrap-in-tests does not
// reach them.
#![allow(clippy::unwrap_used)]

mod canvas;
mod caps;
mod cli;
mod consumers;
mod control;
mod crash;
mod eta;
mod events;
mod explain;
mod failures;
mod handlers;
mod leases;
mod limits;
mod logs;
mod metrics;
mod pauses;
mod pool_resize;
mod prefork;
mod priorities;
mod prometheus;
mod rate_limits;
mod refused_acks;
mod replace;
mod revokes;
mod runs;
mod schedules;
mod shutdown;
mod startup;
mod steps;
mod support;
mod threads;
mod traces;
