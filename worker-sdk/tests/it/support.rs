//! A worker running in the background of a test, stopped when the handle drops.

use std::time::Duration;

use stalk_testkit::TestBroker;
use stalk_worker::WorkerBuilder;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous bound for what should happen soon.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// A running worker; `stop` shuts it down warm and returns how `run` ended.
pub(crate) struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), stalk_worker::WorkerError>>,
}

impl Running {
    /// Asks the worker to shut down warm, without waiting.
    pub(crate) fn request_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the worker down warm and waits for `run` to end.
    pub(crate) async fn stop(mut self) -> Result<(), stalk_worker::WorkerError> {
        self.request_stop();
        tokio::time::timeout(SOON, &mut self.task)
            .await
            .expect("the worker stops")
            .expect("the worker task does not panic")
    }
}

/// Connects the worker built by `build` to `broker` and runs it in the background.
pub(crate) async fn spawn(
    broker: &TestBroker,
    build: impl FnOnce(WorkerBuilder) -> WorkerBuilder,
) -> Running {
    let worker = build(stalk_worker::Worker::builder(broker.url()).worker_id("test-worker"))
        .connect()
        .await
        .expect("the worker connects");
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Running {
        stop: Some(stop),
        task,
    }
}
