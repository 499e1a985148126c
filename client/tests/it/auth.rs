//! Auth: a client built with a token sends it on every call of both services (TaskQueue and
//! Admin); without one, a broker that needs it is refused with a message that says what to pass.
//! (That the broker refuses missing and wrong tokens is broker/tests/it/auth.rs.)

use std::time::Duration;

use stalk_client::{Client, Task, TaskState};
use stalk_testkit::TestBroker;
use tonic::Code;

use crate::support::lease_one;

const TOKEN: &str = "s3cret-token";

#[tokio::test]
async fn the_token_is_sent_on_every_call_of_both_services() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some(TOKEN.into())).await;
    let client = Client::builder(broker.url())
        .auth_token(TOKEN)
        .connect()
        .await
        .expect("connect");

    // TaskQueue: every rpc the client wraps.
    let done = client
        .enqueue(Task::new("t").queue("q").id("done"))
        .await
        .expect("enqueue");
    let outcomes = client
        .enqueue_many([Task::new("t").queue("q").id("dead")])
        .await
        .expect("enqueue_many");
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    let first = lease_one(&client, "q").await;
    client
        .extend_lease(&first, Duration::from_secs(60))
        .await
        .expect("extend_lease");
    client.ack_json(&first, &1).await.expect("ack");
    let second = lease_one(&client, "q").await;
    client
        .nack_requeue(&second, Duration::ZERO)
        .await
        .expect("nack requeue");
    let second = lease_one(&client, "q").await;
    client
        .nack_reject(&second, "poison")
        .await
        .expect("nack reject");
    let status = client
        .result(&done.id, Some(Duration::from_secs(1)))
        .await
        .expect("result");
    assert_eq!(status.state, TaskState::Succeeded);
    client
        .wait_for(&done.id, Duration::from_secs(1))
        .await
        .expect("wait_for");

    // Admin: every rpc the client wraps.
    client.queue_stats(&[]).await.expect("queue_stats");
    client
        .list_tasks("q", TaskState::Failed, 10, None)
        .await
        .expect("list_tasks");
    client
        .replay_dead_letters("q", &[], None)
        .await
        .expect("replay_dead_letters");
    client.purge_queue("q", false).await.expect("purge_queue");
    client.revoke(&[&done.id]).await.expect("revoke");
}

#[tokio::test]
async fn without_the_token_the_error_says_to_pass_one() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some(TOKEN.into())).await;
    let anonymous = Client::connect(&broker.url()).await.expect("connect");
    let err = anonymous
        .queue_stats(&[])
        .await
        .expect_err("an Admin call without the token");
    assert_eq!(err.code(), Some(Code::Unauthenticated), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("auth_token") && text.contains("--token"),
        "the message names the builder option and the CLI flag: {text}"
    );
    assert!(!text.contains(TOKEN), "the message leaks the token: {text}");
}
