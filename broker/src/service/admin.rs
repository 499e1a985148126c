//! The `Admin` service: queue stats, listings, purge, dead-letter replay.

use std::sync::Arc;

use stalk_proto::v1 as pb;
use stalk_proto::v1::admin_server::Admin;
use tonic::{Request, Response, Status};

use super::convert::{self, FieldError};
use crate::broker::Broker;
use crate::engine::{Command, PageToken, Reply, SUB_BITS};

/// Default and largest page of a listing.
const PAGE_SIZE: (u32, u32) = (100, 1000);

/// Serves `stalk.v1.Admin` over a [`Broker`].
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub(crate) broker: Arc<Broker>,
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn queue_stats(
        &self,
        request: Request<pb::QueueStatsRequest>,
    ) -> Result<Response<pb::QueueStatsResponse>, Status> {
        let queues = request.into_inner().queues;
        for (i, queue) in queues.iter().enumerate() {
            convert::name(&format!("queues[{i}]"), queue)?;
        }
        let queues = self
            .broker
            .stats(&queues)
            .into_iter()
            .map(|(queue, c)| pb::QueueStats {
                queue: queue.to_string(),
                ready: c.ready,
                scheduled: c.scheduled,
                leased: c.leased,
                retrying: c.retrying,
                dead: c.dead,
            })
            .collect();
        Ok(Response::new(pb::QueueStatsResponse { queues }))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let req = request.into_inner();
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
        let page = self
            .broker
            .list(&req.queue, state, after, page_size as usize);
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page.tasks.iter().map(convert::summary).collect(),
            next_page_token: page.next.map(PageToken::encode).unwrap_or_default(),
        }))
    }

    async fn purge_queue(
        &self,
        request: Request<pb::PurgeQueueRequest>,
    ) -> Result<Response<pb::PurgeQueueResponse>, Status> {
        let req = request.into_inner();
        convert::name("queue", &req.queue)?;
        let outcome = self
            .broker
            .execute(Command::Purge {
                queue: req.queue,
                dead_letters: req.dead_letters,
            })
            .await?;
        let Reply::Purged(purged) = outcome.reply else {
            return Err(Status::internal("engine answered Purge with another reply"));
        };
        Ok(Response::new(pb::PurgeQueueResponse { purged }))
    }

    async fn list_workers(
        &self,
        _request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self
            .broker
            .sessions()
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
        let outcome = self
            .broker
            .execute(Command::Replay {
                queue: req.queue,
                ids: req.task_ids,
                limit,
            })
            .await?;
        let Reply::Replayed(ids) = outcome.reply else {
            return Err(Status::internal(
                "engine answered Replay with another reply",
            ));
        };
        Ok(Response::new(pb::ReplayDeadLettersResponse {
            task_ids: ids.iter().map(ToString::to_string).collect(),
        }))
    }
}
