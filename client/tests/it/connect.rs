//! Connecting: an address nobody listens on fails at once with a connect error; a connected
//! client keeps working across a broker restart (the channel reconnects by itself).

use stalk_client::{Client, ClientError, Task, TaskState};
use stalk_testkit::{wait_until, TestBroker};

use crate::support::{vacant_addr, SOON};

#[tokio::test]
async fn an_address_nobody_listens_on_is_a_connect_error() {
    let addr = vacant_addr();
    let err = Client::connect(&addr)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, ClientError::Connect(_)), "{addr}: {err:?}");
    assert_eq!(err.code(), None, "no call was answered: {err}");
    assert!(
        err.to_string().contains("stalkd is running"),
        "the message says what to check: {err}"
    );
}

#[tokio::test]
async fn a_client_keeps_working_after_the_broker_restarts() {
    let mut broker = TestBroker::start().await;
    let client = broker.client().await;
    client
        .enqueue(Task::new("t").id("before"))
        .await
        .expect("enqueue before the restart");
    let addr = broker.addr();
    broker.restart().await;
    assert_eq!(
        broker.addr(),
        addr,
        "the test kit restarts on the same port when it is free"
    );
    // The first call may see the old connection break; the channel then dials again.
    let status = wait_until(
        SOON,
        || async { client.result("before", None).await },
        Result::is_ok,
    )
    .await
    .unwrap_or_else(|last| panic!("the old client never reached the restarted broker: {last:?}"))
    .unwrap();
    assert_eq!(status.state, TaskState::Ready, "{status:?}");
    let handle = client
        .enqueue(Task::new("t").id("after"))
        .await
        .expect("enqueue through the same client after the restart");
    assert!(handle.created, "{handle:?}");
}
