//! A worker binary's command line (`stalk-demo-worker`, built on `worker_args!`): it answers
//! `--version` with its own name and version, and a usage error exits 2 as `stalk` and `stalkd`
//! do, whether clap or the builder refuses the setting.

use std::process::{Command, Output};

fn demo_worker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stalk-demo-worker"))
        .args(args)
        .env_remove("STALK_ADDR")
        .output()
        .expect("run stalk-demo-worker")
}

/// Issue 11 (B5): the version is the application's, not the SDK's.
#[test]
fn version_names_the_worker_binary() {
    let output = demo_worker(&["--version"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("stalk-demo-worker {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Issue 11 (B6): usage errors exit 2 with one line saying what to fix.
#[test]
fn usage_errors_exit_2() {
    for (args, says) in [
        (&["--lease", "1.5s"][..], "fractions"),
        (
            &["--concurrency", "0", "--addr", "http://127.0.0.1:1"],
            "concurrency must be at least 1",
        ),
    ] {
        let output = demo_worker(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
