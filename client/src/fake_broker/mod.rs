//! A scripted in-process broker on `127.0.0.1:0`, so the client's calls are tested over a real
//! gRPC connection: conversions both ways, the auth header, long-poll loops and error codes.
//! It implements just enough of each rpc to answer; the real broker's tests live in broker/.

use std::sync::{Arc, Mutex};

use stalk_proto::v1::admin_server::{Admin, AdminServer};
use stalk_proto::v1::task_queue_server::{TaskQueue, TaskQueueServer};
use stalk_proto::v1::{self as pb, TaskState as S};
use tonic::{Request, Response, Status};

/// The only lease id the fake accepts.
pub(super) const LEASE_ID: u64 = 7;

/// What the fake saw, for assertions.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) authorization: Vec<Option<String>>,
    pub(super) result_waits_ms: Vec<u64>,
}

#[derive(Clone)]
pub(super) struct Fake {
    seen: Arc<Mutex<Seen>>,
    /// GetResult answers LEASED, at once, until this many calls were made; then SUCCEEDED.
    finish_after_polls: usize,
}

impl Fake {
    fn record<T>(&self, request: &Request<T>) {
        let auth = request.metadata().get("authorization");
        let auth = auth.and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.seen
            .lock()
            .expect("not poisoned")
            .authorization
            .push(auth);
    }
}

fn state(s: S) -> i32 {
    s.into()
}

#[tonic::async_trait]
impl TaskQueue for Fake {
    async fn enqueue(
        &self,
        request: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        self.record(&request);
        let outcomes = (request.into_inner().tasks.into_iter().enumerate())
            .map(|(i, spec)| match spec.name.as_str() {
                "bad" => pb::EnqueueOutcome {
                    error: Some(pb::Error {
                        kind: "INVALID_ARGUMENT".into(),
                        message: "name 'bad' is refused".into(),
                    }),
                    ..pb::EnqueueOutcome::default()
                },
                _ => pb::EnqueueOutcome {
                    task_id: Some(spec.task_id)
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| format!("gen-{i}")),
                    created: true,
                    state: state(S::Ready),
                    error: None,
                },
            })
            .collect();
        Ok(Response::new(pb::EnqueueResponse { outcomes }))
    }

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        self.record(&request);
        let task = pb::LeasedTask {
            task_id: "t-1".into(),
            name: "email.send".into(),
            queue: request.into_inner().queues.join(","),
            payload: br#"{"to":"ada"}"#.to_vec(),
            content_type: "application/json".into(),
            lease_id: LEASE_ID,
            attempt: 1,
            lease_deadline_unix_ms: 1_700_000_030_000,
            ..pb::LeasedTask::default()
        };
        Ok(Response::new(pb::LeaseResponse { tasks: vec![task] }))
    }

    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let ack = request.into_inner();
        if ack.lease_id != LEASE_ID {
            return Err(Status::failed_precondition("lease is superseded"));
        }
        let next = match ack.outcome {
            Some(pb::ack_request::Outcome::Success(_)) => S::Succeeded,
            Some(pb::ack_request::Outcome::Failure(f)) if f.fatal => S::Failed,
            Some(pb::ack_request::Outcome::Failure(_)) => S::Retrying,
            None => return Err(Status::invalid_argument("outcome: required")),
        };
        Ok(Response::new(pb::AckResponse { state: state(next) }))
    }

    async fn nack(
        &self,
        request: Request<pb::NackRequest>,
    ) -> Result<Response<pb::NackResponse>, Status> {
        let next = match request.into_inner().action {
            Some(pb::nack_request::Action::Requeue(r)) if r.delay_ms > 0 => S::Scheduled,
            Some(pb::nack_request::Action::Requeue(_)) => S::Ready,
            Some(pb::nack_request::Action::Reject(_)) => S::Failed,
            None => return Err(Status::invalid_argument("action: required")),
        };
        Ok(Response::new(pb::NackResponse { state: state(next) }))
    }

    async fn extend_lease(
        &self,
        request: Request<pb::ExtendLeaseRequest>,
    ) -> Result<Response<pb::ExtendLeaseResponse>, Status> {
        let extend = request.into_inner();
        let deadline = 1_700_000_000_000 + i64::try_from(extend.lease_duration_ms).unwrap_or(0);
        Ok(Response::new(pb::ExtendLeaseResponse {
            lease_deadline_unix_ms: deadline,
        }))
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::GetResultResponse>, Status> {
        let get = request.into_inner();
        let polls = {
            let mut seen = self.seen.lock().expect("not poisoned");
            seen.result_waits_ms.push(get.wait_ms);
            seen.result_waits_ms.len()
        };
        let response = if get.task_id == "unknown" {
            pb::GetResultResponse {
                task_id: get.task_id,
                state: state(S::Unknown),
                ..pb::GetResultResponse::default()
            }
        } else if polls >= self.finish_after_polls {
            pb::GetResultResponse {
                task_id: get.task_id,
                state: state(S::Succeeded),
                result: Some(pb::TaskResult {
                    value: br#"{"ok":true}"#.to_vec(),
                    content_type: "application/json".into(),
                }),
                attempts: 1,
                ..pb::GetResultResponse::default()
            }
        } else {
            pb::GetResultResponse {
                task_id: get.task_id,
                state: state(S::Leased),
                ..pb::GetResultResponse::default()
            }
        };
        Ok(Response::new(response))
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let outcomes = (request.into_inner().task_ids.into_iter())
            .map(|id| pb::RevokeOutcome {
                state: state(if id == "unknown" {
                    S::Unknown
                } else {
                    S::Revoked
                }),
                task_id: id,
            })
            .collect();
        Ok(Response::new(pb::RevokeResponse { outcomes }))
    }
}

#[tonic::async_trait]
impl Admin for Fake {
    async fn queue_stats(
        &self,
        _request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        let queues = vec![pb::QueueStats {
            queue: "default".into(),
            ready: 2,
            dead: 1,
            ..pb::QueueStats::default()
        }];
        Ok(Response::new(pb::QueueStatsResponse { queues }))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let list = request.into_inner();
        let next_page_token = if list.page_token.is_empty() { "p2" } else { "" };
        let task = pb::TaskSummary {
            task_id: format!("task-{}", list.page_token),
            queue: list.queue,
            state: list.state,
            ..pb::TaskSummary::default()
        };
        Ok(Response::new(pb::ListTasksResponse {
            tasks: vec![task],
            next_page_token: next_page_token.into(),
        }))
    }

    async fn purge_queue(
        &self,
        request: Request<pb::PurgeQueueRequest>,
    ) -> Result<Response<pb::PurgeQueueResponse>, Status> {
        let purged = if request.into_inner().dead_letters {
            1
        } else {
            3
        };
        Ok(Response::new(pb::PurgeQueueResponse { purged }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<pb::ReplayDeadLettersRequest>,
    ) -> Result<Response<pb::ReplayDeadLettersResponse>, Status> {
        let replay = request.into_inner();
        let task_ids = if replay.task_ids.is_empty() {
            vec!["d-1".into()]
        } else {
            replay.task_ids
        };
        Ok(Response::new(pb::ReplayDeadLettersResponse { task_ids }))
    }
}

/// Serves `fake` on a loopback port bound before spawning (no sleep needed); returns its address.
pub(super) async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TaskQueueServer::new(fake.clone()))
            .add_service(AdminServer::new(fake))
            .serve_with_incoming(incoming),
    );
    addr.to_string()
}

pub(super) fn fake(finish_after_polls: usize) -> (Fake, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let fake = Fake {
        seen: Arc::clone(&seen),
        finish_after_polls,
    };
    (fake, seen)
}

mod calls;
