//! `stalk limits set|list|remove`: rates, caps and keyed limits reach the broker and are shown;
//! a limit that allows everything is a usage error, and removing one that is not there exits 4.

use stalk_testkit::TestBroker;

use crate::support::Stalk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_set_listed_and_removed() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    stalk
        .ok(&["limits", "set", "task:email.send", "10/s", "--burst", "20"])
        .await;
    let run = stalk
        .ok(&[
            "limits",
            "set",
            "queue:mail",
            "--concurrency",
            "5",
            "--per",
            "tenant",
        ])
        .await;
    assert_eq!(
        run.stdout,
        "SCOPE            PER     RATE  BURST  CONCURRENCY  RUNNING  WAITING\n\
         task:email.send  -       10/s  20     -            0        0\n\
         queue:mail       tenant  -     -      5            0        0\n",
        "{run}"
    );
    let run = stalk.ok(&["--json", "limits", "list"]).await;
    assert_eq!(
        run.json(),
        serde_json::json!([
            {"scope": "task:email.send", "per_header": null, "rate": "10/s", "burst": 20,
             "max_concurrency": null, "running": 0, "waiting": 0},
            {"scope": "queue:mail", "per_header": "tenant", "rate": null, "burst": 0,
             "max_concurrency": 5, "running": 0, "waiting": 0},
        ]),
        "{run}"
    );
    stalk
        .ok(&["limits", "remove", "queue:mail", "--per", "tenant"])
        .await;
    let run = stalk.ok(&["--json", "limits", "list"]).await;
    assert_eq!(run.json().as_array().map(Vec::len), Some(1), "{run}");

    let run = stalk
        .expect(4, &["limits", "remove", "queue:mail", "--per", "tenant"])
        .await;
    run.one_line_error()
        .stderr_has("no limit queue:mail per tenant");

    let run = stalk.expect(2, &["limits", "set", "queue:mail"]).await;
    run.stderr_has("--concurrency");
    let run = stalk
        .expect(1, &["limits", "set", "mail", "--concurrency", "1"])
        .await;
    run.one_line_error().stderr_has("scope");
}

/// Issue 11 (B6): the README's two `queue:mail` lines give a cap and then a rate; the rate is
/// added to the cap, not put in its place. `--replace` sets exactly what it is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_a_rate_keeps_the_cap_set_before_unless_replace_is_given() {
    let broker = TestBroker::start().await;
    let stalk = Stalk::for_broker(&broker);
    stalk
        .ok(&[
            "limits",
            "set",
            "queue:mail",
            "--concurrency",
            "5",
            "--per",
            "tenant",
        ])
        .await;
    let run = stalk
        .ok(&["limits", "set", "queue:mail", "100/m", "--per", "tenant"])
        .await;
    assert_eq!(
        run.stdout,
        "SCOPE       PER     RATE   BURST  CONCURRENCY  RUNNING  WAITING\n\
         queue:mail  tenant  100/m  100    5            0        0\n",
        "the cap of 5 stays\n{run}"
    );
    let run = stalk
        .ok(&[
            "--json",
            "limits",
            "set",
            "queue:mail",
            "--concurrency",
            "2",
            "--per",
            "tenant",
        ])
        .await;
    assert_eq!(
        (
            run.json()[0]["rate"].clone(),
            run.json()[0]["max_concurrency"].clone()
        ),
        (serde_json::json!("100/m"), serde_json::json!(2)),
        "the rate stays, the cap changes\n{run}"
    );
    let run = stalk
        .ok(&[
            "--json",
            "limits",
            "set",
            "queue:mail",
            "1/s",
            "--per",
            "tenant",
            "--replace",
        ])
        .await;
    assert_eq!(
        run.json()[0]["max_concurrency"],
        serde_json::Value::Null,
        "--replace drops the cap\n{run}"
    );
}
