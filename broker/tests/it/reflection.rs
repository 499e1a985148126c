//! Reflection: `grpcurl` and other tools can discover the API without the .proto files, over
//! both reflection versions (v1, and v1alpha, which Python's grpcio-reflection and older grpcurl
//! builds use).

use stalk_testkit::TestBroker;
use tonic::transport::Channel;

/// The services that reflection must list.
const EXPECTED: [&str; 5] = [
    "stalk.v1.TaskQueue",
    "stalk.v1.Admin",
    "stalk.v1.Workers",
    "stalk.v1.Schedules",
    "grpc.health.v1.Health",
];

async fn channel(broker: &TestBroker) -> Channel {
    tonic::transport::Endpoint::from_shared(broker.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn assert_lists_every_service(names: &[String]) {
    for expected in EXPECTED {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// The service names a reflection client of version `$v` (`v1`, `v1alpha`) lists; the two
/// versions' generated types differ only by module.
macro_rules! list_services {
    ($v:ident, $broker:expr) => {{
        use tonic_reflection::pb::$v::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$v::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$v::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::$v::ServerReflectionRequest;

        let mut client = ServerReflectionClient::new(channel($broker).await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect(concat!(stringify!($v), " reflection answers"))
            .into_inner();
        let response = responses.message().await.unwrap().expect("one response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection response: {response:?}");
        };
        list.service
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<String>>()
    }};
}

#[tokio::test]
async fn reflection_lists_every_service() {
    let broker = TestBroker::start().await;
    assert_lists_every_service(&list_services!(v1, &broker));
}

/// Issue 11 (B7): v1alpha was not served, so those clients could not list anything.
#[tokio::test]
async fn reflection_v1alpha_lists_every_service() {
    let broker = TestBroker::start().await;
    assert_lists_every_service(&list_services!(v1alpha, &broker));
}
