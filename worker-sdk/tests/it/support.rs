//! A worker running in the background of a test, stopped when the handle drops.

use std::time::Duration;

use stalk_testkit::{wait_until, TestBroker};
use stalk_worker::{Worker, WorkerBuilder};
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

    /// Waits for `run` to end on its own (a control command, a refusal).
    pub(crate) async fn finished(mut self) -> Result<(), stalk_worker::WorkerError> {
        tokio::time::timeout(SOON, &mut self.task)
            .await
            .expect("the worker stops")
            .expect("the worker task does not panic")
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
    run_in_background(worker)
}

/// Runs a connected worker in the background.
pub(crate) fn run_in_background(worker: Worker) -> Running {
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Running {
        stop: Some(stop),
        task,
    }
}

/// A `stalk-demo-worker` process, killed when dropped; its stderr (the log) goes to a file.
pub(crate) struct DemoWorker {
    pub(crate) child: std::process::Child,
    log: tempfile::NamedTempFile,
}

impl DemoWorker {
    /// Starts the demo worker against `broker` with more flags.
    pub(crate) fn start(broker: &TestBroker, args: &[&str]) -> Self {
        Self::start_at(&broker.url(), args, "info")
    }

    /// Starts the demo worker against the broker at `url` (which may not be there yet), with
    /// more flags and `STALK_LOG=stalk_log`.
    pub(crate) fn start_at(url: &str, args: &[&str], stalk_log: &str) -> Self {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stalk-demo-worker"))
            .arg("--addr")
            .arg(url)
            .args(args)
            .env("STALK_LOG", stalk_log)
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .expect("spawn the demo worker");
        Self { child, log }
    }

    /// Waits until its log holds `text`; the log, either way.
    pub(crate) async fn wait_for_log(&self, text: &str) -> Result<String, String> {
        wait_until(SOON, || async { self.log() }, |log| log.contains(text)).await
    }

    /// Waits for the process to exit on its own.
    pub(crate) async fn exited(&mut self) -> std::process::ExitStatus {
        let child = &mut self.child;
        let status = wait_until(
            SOON,
            || std::future::ready(child.try_wait()),
            |s| !matches!(s, Ok(None)),
        )
        .await;
        status
            .expect("the worker exits")
            .expect("the worker's status")
            .expect("an exit status")
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The pids of its child processes (prefork), from `/proc`.
    pub(crate) fn children(&self) -> Vec<u32> {
        let parent = self.pid();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        // The fields after the parenthesised name: state, then the parent's pid.
                        let rest = &stat[stat.rfind(')')? + 1..];
                        rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(parent)
            })
            .collect()
    }

    /// Sends the signal named `name` (e.g. `TERM`) to the worker process.
    pub(crate) fn signal(&self, name: &str) {
        let _ = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status();
    }

    /// Sends SIGTERM (a warm shutdown, or cold after an earlier one) and waits for the process
    /// to exit, without blocking the runtime (the test's broker runs on it and must answer the
    /// worker's goodbye).
    pub(crate) async fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            if let Some(status) = self.child.try_wait().expect("the worker's status") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker did not exit within {SOON:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for DemoWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGKILL to process `pid`.
pub(crate) fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {pid}");
}

/// Enqueues `task` and waits for it to finish.
pub(crate) async fn finish(
    client: &stalk_client::Client,
    task: stalk_client::Task,
) -> stalk_client::TaskStatus {
    client
        .enqueue(task)
        .await
        .unwrap()
        .wait(client, SOON)
        .await
        .unwrap()
}
