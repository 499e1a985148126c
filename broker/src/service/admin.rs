//! The `Admin` service: queue stats, listings, purge, dead-letter replay, worker control, the
//! event stream.

use std::sync::Arc;
use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_server::Admin;
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use crate::broker::Broker;
use crate::engine::limits::{Limit, LimitInfo, LimitKey, LimitScope, RateLimit};
use crate::engine::{PageToken, TaskState, SUB_BITS};
use crate::sessions::SessionRegistry;

/// The wire form of the limits.
fn limits(limits: Vec<LimitInfo>) -> pb::LimitsResponse {
    pb::LimitsResponse {
        limits: limits
            .into_iter()
            .map(|info| pb::LimitInfo {
                scope: info.key.scope.to_string(),
                per_header: info.key.per.unwrap_or_default(),
                rate: info.limit.rate.map(|r| r.to_string()).unwrap_or_default(),
                burst: info.limit.rate.map_or(0, |r| r.burst),
                max_concurrency: info.limit.concurrency.unwrap_or(0),
                running: info.running,
                waiting: info.waiting,
            })
            .collect(),
    }
}

/// Checks a SetLimit request and converts it.
pub(super) fn limit_of(req: pb::SetLimitRequest) -> Result<(LimitKey, Option<Limit>), FieldError> {
    let scope: LimitScope = req
        .scope
        .parse()
        .map_err(|e: String| FieldError::invalid("scope", e))?;
    let (LimitScope::Task(name) | LimitScope::Queue(name)) = &scope;
    convert::name("scope", name)?;
    convert::header_name("per_header", &req.per_header)?;
    let rate = if req.rate.is_empty() {
        if req.burst > 0 {
            return Err(FieldError::invalid("burst", "a burst needs a rate"));
        }
        None
    } else {
        Some(RateLimit::parse(&req.rate, req.burst).map_err(|e| FieldError::invalid("rate", e))?)
    };
    let concurrency = (req.max_concurrency > 0).then_some(req.max_concurrency);
    let key = LimitKey {
        scope,
        per: (!req.per_header.is_empty()).then_some(req.per_header),
    };
    let limit = (rate.is_some() || concurrency.is_some()).then_some(Limit { rate, concurrency });
    Ok((key, limit))
}

/// What a ListTasks request asks for, checked.
#[derive(Debug)]
pub(super) struct ListQuery {
    /// The state listed.
    pub(super) state: TaskState,
    /// Most tasks on the page.
    pub(super) page_size: usize,
    /// Where the page starts; `None` for the first page.
    pub(super) after: Option<PageToken>,
}

/// Checks a ListTasks request.
pub(super) fn list_query(req: &pb::ListTasksRequest) -> Result<ListQuery, Status> {
    convert::name("queue", &req.queue)?;
    let state = convert::listable_state(req.state)?;
    let page_size = match req.page_size {
        0 => PAGE_SIZE.0,
        n if n > PAGE_SIZE.1 => {
            return Err(FieldError::invalid(
                "page_size",
                format!("{n} is more than {}", PAGE_SIZE.1),
            )
            .into())
        }
        n => n,
    };
    let after = if req.page_token.is_empty() {
        None
    } else {
        Some(PageToken::decode(&req.page_token).map_err(crate::broker::BrokerError::from)?)
    };
    Ok(ListQuery {
        state,
        page_size: usize::try_from(page_size).unwrap_or(usize::MAX),
        after,
    })
}

/// Most workers one control command may name.
const MAX_CONTROL_TARGETS: usize = 1000;
/// How long a control command waits for answers by default, and at most.
const DEFAULT_CONTROL_TIMEOUT_MS: u64 = 1_000;
const MAX_CONTROL_TIMEOUT_MS: u64 = 60_000;

/// Default and largest page of a listing.
const PAGE_SIZE: (u32, u32) = (100, 1000);

/// Serves `stalk.v1.Admin` over a [`Broker`].
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub(crate) broker: Arc<Broker>,
    /// The connected workers, for listings and control.
    pub(crate) sessions: Arc<SessionRegistry>,
}

#[tonic::async_trait]
impl Admin for AdminService {
    type WatchEventsStream = super::events::EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let stream = super::events::watch(&self.broker, request.into_inner())?;
        Ok(Response::new(stream))
    }

    async fn queue_stats(
        &self,
        request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        let asked = request.into_inner().queues;
        for (i, queue) in asked.iter().enumerate() {
            convert::name(&format!("queues[{i}]"), queue)?;
        }
        let paused = self.broker.paused_queues();
        let oldest: std::collections::HashMap<_, _> =
            self.broker.oldest_ready().into_iter().collect();
        let mut queues: Vec<pb::QueueStats> = self
            .broker
            .stats(&asked)
            .into_iter()
            .map(|(queue, c)| pb::QueueStats {
                paused: paused.contains(&queue),
                oldest_ready_at_unix_ms: oldest.get(&queue).map_or(0, |&ms| convert::ms(ms)),
                queue: queue.to_string(),
                ready: c.ready,
                scheduled: c.scheduled,
                leased: c.leased,
                retrying: c.retrying,
                dead: c.dead,
                waiting: c.waiting,
            })
            .collect();
        if asked.is_empty() {
            // A paused queue is listed even when it holds nothing: the pause is news.
            for queue in paused {
                if !queues.iter().any(|q| *q.queue == *queue) {
                    queues.push(pb::QueueStats {
                        queue: queue.to_string(),
                        paused: true,
                        ..pb::QueueStats::default()
                    });
                }
            }
            queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        }
        Ok(Response::new(pb::QueueStatsResponse { queues }))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let req = request.into_inner();
        let query = list_query(&req)?;
        let (page, held) =
            self.broker
                .list(&req.queue, query.state, query.after, query.page_size)?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page
                .tasks
                .iter()
                .zip(held)
                .map(|(task, held)| convert::summary(task, held.as_ref()))
                .collect(),
            next_page_token: page.next.map(PageToken::encode).unwrap_or_default(),
        }))
    }

    async fn purge_queue(
        &self,
        request: Request<pb::PurgeQueueRequest>,
    ) -> Result<Response<pb::PurgeQueueResponse>, Status> {
        let req = request.into_inner();
        convert::name("queue", &req.queue)?;
        let purged = self.broker.purge(req.queue, req.dead_letters).await?;
        Ok(Response::new(pb::PurgeQueueResponse { purged }))
    }

    async fn explain(
        &self,
        request: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        let id = request.into_inner().task_id;
        convert::task_id("task_id", &id)?;
        let Some(explained) = crate::explain::explain(&self.broker, &self.sessions, &id) else {
            return Err(Status::not_found(format!(
                "task {id:?} is not known to the broker (never enqueued, or its result expired)"
            )));
        };
        let state = if explained.state == TaskState::Leased && !explained.prefetched {
            pb::TaskState::Running
        } else {
            convert::state(explained.state)
        };
        let reasons = explained
            .reasons
            .into_iter()
            .map(|r| pb::ExplainReason {
                code: r.code.to_owned(),
                message: r.message,
                until_unix_ms: r.until_ms.map_or(0, convert::ms),
                worker: r.worker.unwrap_or_default(),
                limit: r.limit.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::ExplainResponse {
            task_id: id,
            state: state.into(),
            reasons,
        }))
    }

    async fn pause_queue(
        &self,
        request: Request<pb::PauseQueueRequest>,
    ) -> Result<Response<pb::PauseQueueResponse>, Status> {
        let req = request.into_inner();
        convert::name("queue", &req.queue)?;
        let changed = self.broker.pause_queue(req.queue, req.paused).await?;
        Ok(Response::new(pb::PauseQueueResponse { changed }))
    }

    async fn control_workers(
        &self,
        request: Request<pb::ControlWorkersRequest>,
    ) -> Result<Response<pb::ControlWorkersResponse>, Status> {
        let req = request.into_inner();
        if req.worker_ids.len() > MAX_CONTROL_TARGETS {
            return Err(FieldError::invalid(
                "worker_ids",
                format!("names more than {MAX_CONTROL_TARGETS} workers"),
            )
            .into());
        }
        for (i, id) in req.worker_ids.iter().enumerate() {
            if id.is_empty() || id.len() > 256 {
                return Err(FieldError::invalid(
                    format!("worker_ids[{i}]"),
                    "must be 1 to 256 bytes",
                )
                .into());
            }
        }
        let command = convert::worker_command(req.command)?;
        let timeout_ms = match req.timeout_ms {
            0 => DEFAULT_CONTROL_TIMEOUT_MS,
            ms if ms > MAX_CONTROL_TIMEOUT_MS => {
                return Err(FieldError::invalid(
                    "timeout_ms",
                    format!("{ms} is more than {MAX_CONTROL_TIMEOUT_MS}"),
                )
                .into())
            }
            ms => ms,
        };
        let replies = self
            .sessions
            .control()
            .send(&req.worker_ids, command, Duration::from_millis(timeout_ms))
            .await
            .into_iter()
            .map(|r| pb::WorkerReply {
                worker_id: r.worker_id,
                ok: r.ok,
                message: r.message,
                details: r.details.into_iter().collect(),
                latency_ms: r.latency_ms,
            })
            .collect();
        Ok(Response::new(pb::ControlWorkersResponse { replies }))
    }

    async fn set_limit(
        &self,
        request: Request<pb::SetLimitRequest>,
    ) -> Result<Response<pb::LimitsResponse>, Status> {
        let (key, limit) = limit_of(request.into_inner())?;
        let all = self.broker.set_limit(key, limit).await?;
        Ok(Response::new(limits(all)))
    }

    async fn list_limits(
        &self,
        _request: Request<pb::ListLimitsRequest>,
    ) -> Result<Response<pb::LimitsResponse>, Status> {
        Ok(Response::new(limits(self.broker.limits())))
    }

    async fn list_workers(
        &self,
        _request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self
            .sessions
            .workers()
            .into_iter()
            .map(|w| pb::WorkerInfo {
                worker_id: w.worker_id,
                hostname: w.hostname,
                pid: w.pid,
                queues: w.queues,
                task_names: w.task_names,
                sdk_version: w.sdk_version,
                connected_at_unix_ms: convert::ms(w.connected_ms),
                last_seen_unix_ms: convert::ms(w.last_seen_ms),
                processed: w.processed,
                tasks: w
                    .tasks
                    .into_iter()
                    .map(|(task_id, lease_id, started)| pb::WorkerTask {
                        task_id,
                        lease_id,
                        started,
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::ListWorkersResponse { workers }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<pb::ReplayDeadLettersRequest>,
    ) -> Result<Response<pb::ReplayDeadLettersResponse>, Status> {
        let req = request.into_inner();
        convert::name("queue", &req.queue)?;
        if req.task_ids.len() > convert::MAX_BATCH {
            return Err(FieldError::invalid(
                "task_ids",
                format!(
                    "holds {} ids; at most {}",
                    req.task_ids.len(),
                    convert::MAX_BATCH
                ),
            )
            .into());
        }
        for (i, id) in req.task_ids.iter().enumerate() {
            convert::task_id(&format!("task_ids[{i}]"), id)?;
        }
        // One command can renumber at most 2^SUB_BITS tasks; replaying more takes more calls.
        let most = (1usize << SUB_BITS) - 1;
        let limit = match req.limit {
            0 => most,
            n => (n as usize).min(most),
        };
        let ids = self.broker.replay(req.queue, req.task_ids, limit).await?;
        Ok(Response::new(pb::ReplayDeadLettersResponse {
            task_ids: ids.iter().map(ToString::to_string).collect(),
        }))
    }
}
