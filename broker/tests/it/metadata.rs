//! Oversized metadata fails its own call and nothing else (issue 12, §3): 64 KiB or 1 MiB of
//! metadata, or 2,000 entries, made the server send GOAWAY, failing an unrelated long poll on the
//! same connection with UNAVAILABLE.

use stalk_proto::v1 as pb;
use stalk_proto::v1::task_queue_client::TaskQueueClient;
use stalk_testkit::TestBroker;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Request};

use crate::malformed::{channel_to, unary};

fn one_value(bytes: usize) -> MetadataMap {
    let mut map = MetadataMap::new();
    let value = MetadataValue::try_from("v".repeat(bytes)).unwrap();
    map.insert("x-big", value);
    map
}

fn many_entries(entries: usize) -> MetadataMap {
    let mut map = MetadataMap::new();
    for i in 0..entries {
        let key = MetadataKey::from_bytes(format!("x-entry-{i}").as_bytes()).unwrap();
        map.insert(key, MetadataValue::from_static("v"));
    }
    map
}

#[tokio::test]
async fn oversized_metadata_fails_its_own_call_and_not_the_connection() {
    let broker = TestBroker::start().await;
    let channel = channel_to(&broker).await;
    let mut queue = TaskQueueClient::new(channel.clone());
    let long_poll = tokio::spawn({
        let mut queue = queue.clone();
        async move {
            let poll = pb::LeaseRequest {
                queues: vec!["m".into()],
                max_tasks: 1,
                wait_ms: 30_000,
                ..pb::LeaseRequest::default()
            };
            queue.lease(poll).await
        }
    });
    let hostile = [
        ("64 KiB in one entry", one_value(64 << 10)),
        ("1 MiB in one entry", one_value(1 << 20)),
        ("2,000 entries", many_entries(2_000)),
    ];
    for (name, metadata) in hostile {
        let mut request = Request::new(Vec::new());
        *request.metadata_mut() = metadata;
        let status = unary(&channel, "/stalk.v1.Admin/ListWorkers", request)
            .await
            .expect_err(name);
        assert_eq!(status.code(), Code::ResourceExhausted, "{name}: {status:?}");
        assert!(
            status.message().contains("the limit is 16384 bytes"),
            "{name}: {status:?}"
        );
    }
    let task = pb::TaskSpec {
        name: "after".into(),
        queue: "m".into(),
        ..pb::TaskSpec::default()
    };
    let enqueued = queue
        .enqueue(pb::EnqueueRequest {
            tasks: vec![task],
            ..Default::default()
        })
        .await
        .expect("a call after the hostile ones, on the same connection");
    let id = &enqueued.get_ref().outcomes[0].task_id;
    let leased = long_poll.await.unwrap().expect("the long poll is unharmed");
    assert_eq!(&leased.get_ref().tasks[0].task_id, id);
}
