//! A custom bootstep: a step that opens a shared resource (here a stand-in for a database
//! pool) before the worker takes tasks, hands it to every task through `TaskContext::resource`,
//! and closes it after the last task, when the worker stops. Steps declare what they require;
//! the worker orders them with the built-in ones (connection, pool, session, lease-keeper,
//! heartbeat) and stops them in reverse.
//!
//! ```sh
//! cargo run --release --bin stalkd                                        # terminal 1
//! cargo run -p stalk-worker --example custom_bootstep                     # terminal 2
//! cargo run --bin stalk -- enqueue visits --json '"ada"'
//! ```

use std::collections::HashMap;

use parking_lot::Mutex;
use stalk_worker::{Step, StepContext, StepError, TaskContext, TaskError};

/// The shared resource: visit counts by name.
#[derive(Default)]
struct Visits(Mutex<HashMap<String, u64>>);

/// Opens [`Visits`] at start; reports what it holds at stop.
struct VisitStore;

#[stalk_worker::async_trait]
impl Step for VisitStore {
    fn name(&self) -> &str {
        "visit-store"
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        tracing::info!(worker = ctx.worker_id(), "opening the visit store");
        ctx.provide(Visits::default());
        Ok(())
    }

    async fn stop(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        let visits = ctx
            .resource::<Visits>()
            .ok_or_else(|| StepError::new("the visit store was never opened"))?;
        tracing::info!(names = visits.0.lock().len(), "closing the visit store");
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), stalk_worker::WorkerError> {
    let args = stalk_worker::worker_args!();
    stalk_worker::init_logging(args.log_format);
    args.builder()
        .step(VisitStore)
        .task_with_context("visits", |name: String, ctx: TaskContext| async move {
            let visits = ctx
                .resource::<Visits>()
                .ok_or_else(|| TaskError::fatal("NoStore", "the visit store step is missing"))?;
            let mut counts = visits.0.lock();
            let count = counts.entry(name).or_default();
            *count += 1;
            Ok::<_, TaskError>(*count)
        })
        .connect()
        .await?
        .run_until_signal()
        .await
}
