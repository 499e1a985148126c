//! Hostile requests sent as raw bytes (issue 12, §3): every malformed body is the caller's fault
//! and answered as such, naming the field or what was malformed; after all of them the broker is
//! still SERVING and restarts cleanly on the same data dir.

use bytes::{Buf, BufMut};
use prost::Message;
use stalk_proto::v1 as pb;
use stalk_testkit::TestBroker;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A codec that sends and receives message bodies as they are, so bad protobuf reaches the broker.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

pub(crate) async fn channel_to(broker: &TestBroker) -> Channel {
    tonic::transport::Endpoint::from_shared(broker.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// One unary call with `body` as the request message.
pub(crate) async fn unary(
    channel: &Channel,
    path: &'static str,
    request: Request<Vec<u8>>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = PathAndQuery::from_static(path);
    Ok(grpc.unary(request, path, RawCodec).await?.into_inner())
}

/// A worker session whose first message is `body`: its answer, or how it ended.
async fn session(channel: &Channel, body: Vec<u8>) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = PathAndQuery::from_static("/stalk.v1.Workers/Session");
    let outbound = tokio_stream::once(body);
    let mut inbound = grpc
        .streaming(Request::new(outbound), path, RawCodec)
        .await?
        .into_inner();
    inbound.message().await
}

/// A length-delimited field.
fn field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

const NOT_UTF8: &[u8] = &[b'o', b'k', 0xff, 0xfe];

/// A hostile request and what it must get.
struct Case {
    name: String,
    path: &'static str,
    body: Vec<u8>,
    code: Code,
    says: String,
}

fn case(name: &str, path: &'static str, body: Vec<u8>, code: Code, says: &str) -> Case {
    Case {
        name: name.into(),
        path,
        body,
        code,
        says: says.into(),
    }
}

/// Unary methods whose request's field 1 is a string, with that field's prost name.
const STRING_FIELD_ONE: [(&str, &str); 13] = [
    ("/stalk.v1.TaskQueue/Lease", "LeaseRequest.queues"),
    ("/stalk.v1.TaskQueue/Ack", "AckRequest.task_id"),
    ("/stalk.v1.TaskQueue/Nack", "NackRequest.task_id"),
    (
        "/stalk.v1.TaskQueue/ExtendLease",
        "ExtendLeaseRequest.task_id",
    ),
    ("/stalk.v1.TaskQueue/GetResult", "GetResultRequest.task_id"),
    ("/stalk.v1.TaskQueue/Revoke", "RevokeRequest.task_ids"),
    ("/stalk.v1.Admin/QueueStats", "QueueStatsRequest.queues"),
    ("/stalk.v1.Admin/PurgeQueue", "PurgeQueueRequest.queue"),
    ("/stalk.v1.Admin/ListTasks", "ListTasksRequest.queue"),
    ("/stalk.v1.Admin/SetLimit", "SetLimitRequest.scope"),
    ("/stalk.v1.Schedules/GetSchedule", "ScheduleName.name"),
    ("/stalk.v1.Schedules/DeleteSchedule", "ScheduleName.name"),
    (
        "/stalk.v1.Schedules/PauseSchedule",
        "PauseScheduleRequest.name",
    ),
];

/// Invalid UTF-8 in every string field of a task spec and in field 1 of the unary requests.
fn utf8_cases() -> Vec<Case> {
    let enqueue = "/stalk.v1.TaskQueue/Enqueue";
    let mut cases: Vec<Case> = [
        (1, "name"),
        (2, "queue"),
        (4, "content_type"),
        (7, "task_id"),
        (8, "unique_key"),
    ]
    .into_iter()
    .map(|(number, name)| {
        let body = field(1, &field(number, NOT_UTF8));
        let says = format!("TaskSpec.{name}: EnqueueRequest.tasks: invalid string value");
        case(
            &format!("utf8 in task {name}"),
            enqueue,
            body,
            Code::InvalidArgument,
            &says,
        )
    })
    .collect();
    let header = field(1, &field(5, &field(1, NOT_UTF8)));
    cases.push(case(
        "utf8 in a header name",
        enqueue,
        header,
        Code::InvalidArgument,
        "TaskSpec.headers",
    ));
    let schedule = field(1, &field(5, &field(1, NOT_UTF8)));
    cases.push(case(
        "utf8 in a schedule's task",
        "/stalk.v1.Schedules/PutSchedule",
        schedule,
        Code::InvalidArgument,
        "TaskSpec.name",
    ));
    for (path, name) in STRING_FIELD_ONE {
        let says = format!("{name}: invalid string value");
        cases.push(case(
            &format!("utf8 in {name}"),
            path,
            field(1, NOT_UTF8),
            Code::InvalidArgument,
            &says,
        ));
    }
    cases
}

/// Bodies that are not protobuf at all, sent to one method of each service.
fn structure_cases() -> Vec<Case> {
    let nested_groups: Vec<u8> = std::iter::repeat_n(0x7b_u8, 200).collect();
    let bodies: [(&str, Vec<u8>, &str); 6] = [
        ("garbage bytes", vec![0xff; 32], "malformed request message"),
        (
            "a truncated varint",
            // Field 2000 (known to no request), then a varint that never ends.
            vec![0x80, 0xfd, 0x00, 0xff, 0xff],
            "invalid varint",
        ),
        ("a truncated key", vec![0x80], "invalid varint"),
        (
            "a length past the end",
            vec![0x0a, 0x7f, b'x'],
            "buffer underflow",
        ),
        ("a wrong wire type", vec![0x08, 0x01], "invalid wire type"),
        (
            "deeply nested unknown groups",
            nested_groups,
            "recursion limit reached",
        ),
    ];
    let paths = [
        "/stalk.v1.TaskQueue/Enqueue",
        "/stalk.v1.TaskQueue/Lease",
        "/stalk.v1.Admin/ListTasks",
        "/stalk.v1.Schedules/PutSchedule",
        "/grpc.health.v1.Health/Check",
    ];
    let mut cases = Vec::new();
    for path in paths {
        for (name, body, says) in &bodies {
            cases.push(case(
                &format!("{name} to {path}"),
                path,
                body.clone(),
                Code::InvalidArgument,
                says,
            ));
        }
    }
    cases
}

/// Times past the one bound every way of saying when has (366 days ahead).
fn time_cases() -> Vec<Case> {
    let nack = pb::NackRequest {
        task_id: "t-1".into(),
        lease_id: 1,
        action: Some(pb::nack_request::Action::Requeue(pb::Requeue {
            delay_ms: 0,
            at_unix_ms: i64::MAX,
        })),
    };
    vec![case(
        "a nack requeued at i64::MAX",
        "/stalk.v1.TaskQueue/Nack",
        nack.encode_to_vec(),
        Code::InvalidArgument,
        "requeue.at_unix_ms",
    )]
}

async fn assert_serving(channel: &Channel) {
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn every_malformed_request_is_the_callers_fault_and_the_broker_stays_healthy() {
    let mut broker = TestBroker::start_with(|c| c.max_payload_bytes = 1024).await;
    let channel = channel_to(&broker).await;
    let mut cases = utf8_cases();
    cases.extend(structure_cases());
    cases.extend(time_cases());
    let too_large = vec![0; (65 << 20) + 2048];
    cases.push(case(
        "a 65 MiB message",
        "/stalk.v1.TaskQueue/Enqueue",
        too_large,
        Code::ResourceExhausted,
        "the limit is: 67109888 bytes",
    ));
    for case in cases {
        let status = unary(&channel, case.path, Request::new(case.body))
            .await
            .expect_err(&case.name);
        assert_eq!(status.code(), case.code, "{}: {status:?}", case.name);
        assert!(
            status.message().contains(&case.says),
            "{}: {status:?}",
            case.name
        );
    }
    let far = pb::TaskSpec {
        name: "far".into(),
        eta_unix_ms: i64::MAX,
        ..pb::TaskSpec::default()
    };
    let body = pb::EnqueueRequest {
        tasks: vec![far],
        ..Default::default()
    }
    .encode_to_vec();
    let reply = unary(&channel, "/stalk.v1.TaskQueue/Enqueue", Request::new(body))
        .await
        .expect("a batch answers per task");
    let refused = pb::EnqueueResponse::decode(reply.as_slice())
        .unwrap()
        .outcomes[0]
        .error
        .clone()
        .expect("an eta of i64::MAX is refused");
    assert_eq!(refused.kind, "INVALID_ARGUMENT");
    assert!(
        refused.message.contains("tasks[0].eta_unix_ms"),
        "{refused:?}"
    );
    let status = session(&channel, vec![0xff; 32])
        .await
        .expect_err("garbage session");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("malformed request message"),
        "{status:?}"
    );

    assert_serving(&channel).await;
    let id = crate::support::enqueue(&broker.client().await, "q", "survives").await;
    broker.restart().await;
    assert_serving(&channel_to(&broker).await).await;
    let leased = crate::support::lease(&broker.client().await, "q", 1).await;
    assert_eq!(crate::support::ids(&leased), [id.as_str()]);
}
