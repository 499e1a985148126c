//! `stalk health`: what a container's health check runs. SERVING exits 0, with no token even
//! when the broker wants one; a broker that is not there exits 3; an unknown service is
//! NOT_FOUND (4).

use stalk_testkit::TestBroker;

use crate::support::{vacant_addr, Stalk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_broker_answers_serving_without_a_token() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let stalk = Stalk::for_broker(&broker);
    assert_eq!(stalk.ok(&["health"]).await.stdout, "SERVING\n");
    let doc = stalk
        .ok(&["--json", "health", "--service", "stalk.v1.TaskQueue"])
        .await
        .json();
    assert_eq!(doc["status"], "SERVING");
    stalk
        .expect(4, &["health", "--service", "no.such.Service"])
        .await
        .one_line_error();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_not_there_is_unhealthy() {
    let addr = vacant_addr();
    Stalk::at(addr.as_str())
        .expect(3, &["health"])
        .await
        .one_line_error()
        .stderr_has(&addr);
}
