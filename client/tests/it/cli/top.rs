//! `stalk top` as a user runs it: refused without a terminal, and in a real terminal (tmux)
//! drawing a broker's queues and a failure as it happens, with keys that open the failed task,
//! filter the queues and quit. `.ci/run` installs tmux; elsewhere the tmux test says it was
//! skipped when tmux is missing, and under CI it fails instead.

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use stalk_client::{LeaseOptions, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{Stalk, SOON};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_refuses_to_run_without_a_terminal() {
    let broker = TestBroker::start().await;
    Stalk::for_broker(&broker)
        .expect(2, &["top"])
        .await
        .stderr_has("stalk top needs a terminal; use `stalk queues` / `stalk events` in scripts")
        .one_line_error();
}

/// A tmux server of this test alone (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on a fresh socket, or `None` (skip) when tmux is not installed outside CI.
    fn new() -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let installed = std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|out| out.status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is missing: .ci/run installs it"
            );
            eprintln!("skipped: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Some(Self {
            socket: format!("stalk-top-test-{}-{n}", std::process::id()),
        })
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .await
            .expect("run tmux")
    }

    /// The visible screen as text.
    async fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "top"]).await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen contains `text`; on timeout the panic shows the screen.
    async fn wait_for(&self, text: &str) {
        let seen = wait_until(SOON, || self.screen(), |s| s.contains(text)).await;
        if let Err(screen) = seen {
            panic!("the screen never showed {text:?}; it shows:\n{screen}");
        }
    }

    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).await.status.success(), "send-keys {keys:?}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _gone = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_in_a_terminal_shows_a_failure_as_it_happens_and_keys_act_on_it() {
    let Some(tmux) = Tmux::new() else { return };
    let broker = TestBroker::start().await;
    let client = broker.client().await;
    for (name, queue) in [("mail.send", "mail"), ("report.build", "reports")] {
        let task = Task::new(name).queue(queue).max_retries(0);
        client.enqueue(task).await.unwrap();
    }
    let url = broker.url();
    let started = tmux
        .run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "150",
            "-y",
            "40",
            "--",
            env!("CARGO_BIN_EXE_stalk"),
            "--addr",
            &url,
            "top",
            "--interval",
            "200ms",
        ])
        .await;
    assert!(started.status.success(), "tmux new-session: {started:?}");
    tmux.wait_for("reports").await;
    tmux.wait_for("events live").await;

    // Fail the report while top watches: it appears in the failures pane.
    let leased = client
        .lease(LeaseOptions {
            wait: SOON,
            ..LeaseOptions::new(["reports"])
        })
        .await
        .unwrap();
    let state = client
        .ack_failure(&leased[0], "ValueError", "no data for March", false, None)
        .await
        .unwrap();
    assert_eq!(state, TaskState::Failed);
    tmux.wait_for("ValueError: no data for March").await;

    // Open it: why it failed, and its history.
    tmux.keys(&["3", "Enter"]).await;
    tmux.wait_for(&format!("{} is FAILED", leased[0].id)).await;
    tmux.keys(&["Escape"]).await;
    wait_until(SOON, || tmux.screen(), |s| !s.contains("is FAILED"))
        .await
        .expect("Esc closes the task");

    // A filter leaves only the matching queue.
    tmux.keys(&["/", "m", "a", "i", "l", "Enter"]).await;
    tmux.wait_for("filter: mail (Esc clears)").await;
    let screen = tmux.screen().await;
    assert!(!screen.contains("reports"), "{screen}");

    tmux.keys(&["q"]).await;
    let gone = wait_until(
        SOON,
        || async {
            tmux.run(&["has-session", "-t", "top"])
                .await
                .status
                .success()
        },
        |alive| !alive,
    )
    .await;
    assert_eq!(gone, Ok(false), "q quits");
}
