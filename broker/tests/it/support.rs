//! Helpers shared by the integration tests: short task builders and the real-binary harness.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stalk_client::{Client, LeaseOptions, LeasedTask, Task};

/// Generous bound for anything that should happen "soon"; a hang fails instead of stalling CI.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// Connects to a `stalkd` that may still be starting, for up to 10 s.
pub(crate) async fn connect_retrying(url: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(url).await {
            Ok(client) => return client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("cannot connect to {url}: {err}"),
        }
    }
}

/// Leases up to `max` tasks from `queue` without waiting.
pub(crate) async fn lease(client: &Client, queue: &str, max: u32) -> Vec<LeasedTask> {
    client
        .lease(LeaseOptions {
            max_tasks: max,
            ..LeaseOptions::new([queue])
        })
        .await
        .expect("lease")
}

/// Leases with a custom lease duration.
pub(crate) async fn lease_for(
    client: &Client,
    queue: &str,
    max: u32,
    duration: Duration,
) -> Vec<LeasedTask> {
    client
        .lease(LeaseOptions {
            max_tasks: max,
            lease_duration: Some(duration),
            ..LeaseOptions::new([queue])
        })
        .await
        .expect("lease")
}

/// Enqueues a JSON task `name` on `queue` and returns its id.
pub(crate) async fn enqueue(client: &Client, queue: &str, name: &str) -> String {
    let task = Task::new(name)
        .queue(queue)
        .json(&serde_json::json!({"n": name}))
        .expect("json");
    client.enqueue(task).await.expect("enqueue").id
}

/// The ids of leased tasks, in order.
pub(crate) fn ids(tasks: &[LeasedTask]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

/// Copies the directory `from` (a data dir) to `to`, recursively.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A `stalkd` child process. Dropping it sends SIGTERM, then SIGKILL after a grace period.
pub(crate) struct Stalkd {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    /// Where `/metrics` is served (`--metrics-listen`), from the ready line.
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// How long a starting `stalkd` may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Stalkd {
    /// Starts `stalkd --listen 127.0.0.1:0 --data-dir <dir> <extra>` and waits for its ready line.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", data_dir, extra)
    }

    /// Starts `stalkd --listen <listen> --data-dir <dir> <extra>` and waits for its ready line.
    pub(crate) fn start_on(listen: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::try_start_on(listen, data_dir, extra).unwrap_or_else(|failed| panic!("{failed}"))
    }

    /// As [`Stalkd::start`], or how it exited before it was ready (status and stderr).
    pub(crate) fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::try_start_on("127.0.0.1:0", data_dir, extra)
    }

    fn try_start_on(listen: &str, data_dir: &Path, extra: &[&str]) -> Result<Self, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stalkd"))
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("STALK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stalkd");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let started = Instant::now();
        loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                let ready: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
                let addr = ready["addr"]
                    .as_str()
                    .expect("addr in ready line")
                    .parse()
                    .expect("addr parses");
                let metrics_addr = ready["metrics_addr"]
                    .as_str()
                    .map(|a| a.parse().expect("metrics_addr parses"));
                return Ok(Self {
                    child: Some(child),
                    addr,
                    metrics_addr,
                });
            }
            if let Some(status) = child.try_wait().expect("poll stalkd") {
                let output = child.wait_with_output().expect("collect output");
                return Err(format!(
                    "stalkd exited with {status} before it was ready\nstderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "stalkd not ready within {READY_TIMEOUT:?}"
            );
        }
    }

    /// `http://addr`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub(crate) fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(self) -> std::process::ExitStatus {
        self.terminate_within(Duration::from_secs(20))
            .expect("stalkd exits after SIGTERM")
    }

    /// Sends SIGTERM, waits for the exit status and returns it with what stalkd logged (at
    /// warn and above).
    pub(crate) fn terminate_with_log(mut self) -> (std::process::ExitStatus, String) {
        let mut stderr = self.child.as_mut().and_then(|c| c.stderr.take());
        let status = self.terminate();
        let mut log = String::new();
        if let Some(stderr) = stderr.as_mut() {
            std::io::Read::read_to_string(stderr, &mut log).expect("read stderr");
        }
        (status, log)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status; `None` if it still runs (it
    /// is then killed).
    pub(crate) fn terminate_within(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take().expect("running");
        signal(&child, "TERM");
        let status = wait_with_deadline(&mut child, limit);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Stalkd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            if wait_with_deadline(&mut child, Duration::from_secs(5)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A workflow member on queue `q` whose payload is `[n]`.
pub(crate) fn member(n: i64) -> stalk_client::Task {
    stalk_client::Task::new("member")
        .queue("q")
        .json(&[n])
        .expect("JSON")
}
