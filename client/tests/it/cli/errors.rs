//! Failing well: bad flags and addresses are usage errors (2), a broker that is not there is 3,
//! each with one `stalk: …` line on stderr; a broker that needs a token gets it from `--token`
//! or `STALK_TOKEN`, and without it the error says to pass one.

use stalk_testkit::TestBroker;

use crate::support::{vacant_addr, Stalk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_usage_errors() {
    // Nothing listens here: a usage error must be found before connecting.
    let stalk = Stalk::at(vacant_addr());
    let run = stalk.expect(2, &["enqueue", "t", "--priority", "10"]).await;
    run.stderr_has("--priority");
    let run = stalk.expect(2, &["queues", "--bogus"]).await;
    run.stderr_has("--bogus");
    let run = stalk
        .expect(2, &["result", "t", "--wait", "5 parsecs"])
        .await;
    run.stderr_has("invalid duration");
    let run = stalk
        .expect(2, &["tasks", "--queue", "q", "--state", "done"])
        .await;
    run.stderr_has("unknown task state");
    let run = stalk.expect(2, &["frobnicate"]).await;
    run.stderr_has("frobnicate");
    let run = stalk
        .expect(2, &["enqueue", "t", "--expires-in", "0s"])
        .await;
    run.stderr_has("more than zero");
    let run = stalk.expect(2, &["enqueue", "t", "--countdown=-5s"]).await;
    run.stderr_has("cannot be negative");
    let run = stalk.expect(2, &["--token", "two words", "queues"]).await;
    run.one_line_error().stderr_has("invalid auth token");
    assert!(
        !run.stderr.contains("two words"),
        "the token is not echoed\n{run}"
    );
    let run = stalk
        .expect(2, &["--ca-cert", "/no/such/ca.pem", "queues"])
        .await;
    run.one_line_error()
        .stderr_has("cannot read the CA certificate /no/such/ca.pem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_address_is_a_usage_error() {
    let run = Stalk::at("broker:port").expect(2, &["queues"]).await;
    run.one_line_error()
        .stderr_has("invalid broker address 'broker:port'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_not_there_exits_3_with_one_line_naming_the_address() {
    let addr = vacant_addr();
    let run = Stalk::at(addr.as_str()).expect(3, &["queues"]).await;
    run.one_line_error()
        .stderr_has(&addr)
        .stderr_has("cannot connect to the broker");
    let parts: Vec<&str> = run.stderr.trim_end().split(": ").collect();
    assert!(
        parts.windows(2).all(|pair| pair[0] != pair[1]),
        "no cause is printed twice in a row\n{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_needs_a_token_gets_it_from_the_flag_or_the_environment() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let stalk = Stalk::for_broker(&broker);

    let run = stalk.run(&["queues"]).await;
    assert!(
        run.code.is_some_and(|code| code != 0),
        "no token, no answer\n{run}"
    );
    run.one_line_error()
        .stderr_has("Unauthenticated")
        .stderr_has("--token");
    let run = stalk.run(&["--token", "wrong", "queues"]).await;
    assert!(run.code.is_some_and(|code| code != 0), "{run}");
    run.one_line_error().stderr_has("token is wrong");
    assert!(!run.stderr.contains("s3cret"), "{run}");

    stalk
        .ok(&["--token", "s3cret", "queues"])
        .await
        .stdout_has("QUEUE");
    stalk
        .clone()
        .env("STALK_TOKEN", "s3cret")
        .ok(&["enqueue", "t"])
        .await
        .stdout_has("enqueued ");
}

/// Issue 11 (B6): `stalk completions SHELL` prints a completion script without a broker; an
/// unknown shell is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_bash_zsh_and_fish() {
    let stalk = Stalk::at(vacant_addr());
    let run = stalk.ok(&["completions", "bash"]).await;
    assert!(run.stdout.contains("complete -F _stalk"), "{run}");
    let run = stalk.ok(&["completions", "zsh"]).await;
    assert!(run.stdout.starts_with("#compdef stalk"), "{run}");
    let run = stalk.ok(&["completions", "fish"]).await;
    assert!(run.stdout.contains("complete -c stalk"), "{run}");
    stalk
        .expect(2, &["completions", "tcsh"])
        .await
        .stderr_has("tcsh");
}
