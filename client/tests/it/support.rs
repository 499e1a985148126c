//! Helpers shared by the client tests: short client calls, a vacant address, and [`Stalk`], which
//! runs the real `stalk` binary and reports everything it printed when an expectation fails.

use std::fmt;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use stalk_client::{Client, LeaseOptions, LeasedTask};
use stalk_testkit::TestBroker;

/// Generous bound for anything that should happen "soon"; a hang fails instead of stalling CI.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// How long one `stalk` run may take before the test calls it hung (a run takes milliseconds).
const CLI_DEADLINE: Duration = Duration::from_secs(30);

/// Leases exactly one task from `queue`, long-polling up to [`SOON`] for it.
pub(crate) async fn lease_one(client: &Client, queue: &str) -> LeasedTask {
    let mut leased = client
        .lease(LeaseOptions {
            wait: SOON,
            ..LeaseOptions::new([queue])
        })
        .await
        .expect("lease");
    assert_eq!(
        leased.len(),
        1,
        "expected one task from {queue}: {leased:?}"
    );
    leased.remove(0)
}

/// `http://127.0.0.1:<port>` where nothing listens: a port the OS just handed out, released.
pub(crate) fn vacant_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    format!("http://{addr}")
}

/// Asserts that `actual` lies within `slack` of `expected`: wire times are whole milliseconds and
/// broker and test read the clock at slightly different moments.
pub(crate) fn assert_near(what: &str, actual: Option<SystemTime>, expected: SystemTime) {
    let slack = Duration::from_secs(2);
    let actual = actual.unwrap_or_else(|| panic!("{what}: expected about {expected:?}, got none"));
    let off = match actual.duration_since(expected) {
        Ok(later) => later,
        Err(earlier) => earlier.duration(),
    };
    assert!(
        off <= slack,
        "{what}: expected {expected:?} ± {slack:?}, got {actual:?}"
    );
}

/// The `stalk` binary with the flags that pick a broker; each run starts a fresh child process.
#[derive(Debug, Clone)]
pub(crate) struct Stalk {
    global: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Stalk {
    /// `stalk --addr <addr> …`.
    pub(crate) fn at(addr: impl Into<String>) -> Self {
        Self {
            global: vec!["--addr".to_owned(), addr.into()],
            envs: Vec::new(),
        }
    }

    /// `stalk --addr <the broker's url> …`.
    pub(crate) fn for_broker(broker: &TestBroker) -> Self {
        Self::at(broker.url())
    }

    /// Sets an environment variable for the child (the test's own `STALK_*` are never passed).
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs `stalk <global flags> <args>` and collects its exit code and output.
    ///
    /// tokio's process API waits for the child without blocking a runtime thread, so the broker in
    /// this process keeps serving; `kill_on_drop` ends a child that outlives [`CLI_DEADLINE`].
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        let mut line = vec!["stalk".to_owned()];
        line.extend(self.global.iter().cloned());
        line.extend(args.iter().map(|&a| a.to_owned()));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_stalk"));
        command
            .args(&line[1..])
            .env_remove("STALK_ADDR")
            .env_remove("STALK_TOKEN")
            .env_remove("STALK_CA_CERT")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(CLI_DEADLINE, command.output())
            .await
            .unwrap_or_else(|_| panic!("`{}` did not exit within {CLI_DEADLINE:?}", line.join(" ")))
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", line.join(" ")));
        Run {
            line: line.join(" "),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code; on a mismatch the panic shows the command and its output.
    pub(crate) async fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert!(run.code == Some(code), "expected exit code {code}\n{run}");
        run
    }

    /// Runs and asserts success (exit code 0).
    pub(crate) async fn ok(&self, args: &[&str]) -> Run {
        self.expect(0, args).await
    }
}

/// One finished run of `stalk`.
#[derive(Debug)]
pub(crate) struct Run {
    /// The command line, for messages.
    pub(crate) line: String,
    /// The exit code; `None` if a signal ended the process.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Stdout parsed as one JSON document.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }

    /// Asserts that stdout contains `needle`.
    pub(crate) fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }

    /// Asserts that stderr contains `needle`.
    pub(crate) fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    /// Asserts that the command failed with exactly one line on stderr, `stalk: …`.
    pub(crate) fn one_line_error(&self) -> &Self {
        assert!(
            self.stderr.starts_with("stalk: ")
                && self.stderr.ends_with('\n')
                && self.stderr.lines().count() == 1,
            "expected one line `stalk: …` on stderr\n{self}"
        );
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self
            .code
            .map_or_else(|| "none (killed by a signal)".to_owned(), |c| c.to_string());
        writeln!(f, "command:   {}", self.line)?;
        writeln!(f, "exit code: {code}")?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}
