//! The gRPC layer: validates requests, converts them for the broker core, maps errors. Nothing
//! here touches sled or decides task semantics.

mod admin;
mod auth;
mod convert;
mod events;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
mod inflight;
mod malformed;
mod schedules;
mod status;
mod tasks;
mod workers;
mod workflows;

use std::sync::Arc;

use stalk_proto::v1::admin_server::AdminServer;
use stalk_proto::v1::schedules_server::SchedulesServer;
use stalk_proto::v1::task_queue_server::TaskQueueServer;
use stalk_proto::v1::workers_server::WorkersServer;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::broker::Broker;
use crate::sessions::SessionRegistry;

pub(crate) use auth::{constant_time_eq, BearerAuth};
pub(crate) use inflight::InFlightLayer;
pub(crate) use malformed::{MalformedLayer, HEADER_READ_LIMIT};

/// Largest gRPC message accepted: a batch of tasks near the payload limit must fit.
fn max_message_bytes(max_payload: usize) -> usize {
    max_payload.saturating_add(64 << 20)
}

/// The service implementations themselves, for other faces of the same API (the dashboard):
/// calling them directly runs the same checks and gives the same errors as a gRPC call.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    /// `stalk.v1.TaskQueue`.
    pub(crate) queue: tasks::TaskQueueService,
    /// `stalk.v1.Admin`.
    pub(crate) admin: admin::AdminService,
    /// `stalk.v1.Schedules`.
    pub(crate) schedules: schedules::SchedulesService,
}

/// Every service the broker serves: TaskQueue, Admin, Workers and Schedules (behind auth when
/// configured),
/// reflection (behind auth) and health (never behind auth, so probes work without a token).
pub(crate) async fn routes(
    broker: &Arc<Broker>,
    sessions: &Arc<SessionRegistry>,
    max_payload: usize,
    grace: crate::config::SessionGrace,
    silence: std::time::Duration,
    priority_aging: std::time::Duration,
    auth: BearerAuth,
) -> Result<(Routes, HealthReporter, Api), tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_serving(&reporter).await;
    let limit = max_message_bytes(max_payload);
    let api = Api {
        queue: tasks::TaskQueueService {
            broker: broker.clone(),
            max_payload,
        },
        admin: admin::AdminService {
            broker: broker.clone(),
            sessions: sessions.clone(),
        },
        schedules: schedules::SchedulesService {
            broker: broker.clone(),
            max_payload,
        },
    };
    let queue = TaskQueueServer::new(api.queue.clone())
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let admin = AdminServer::new(api.admin.clone())
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let workers = WorkersServer::new(workers::WorkersService {
        broker: broker.clone(),
        max_payload,
        grace,
        silence,
        priority_aging_ms: u64::try_from(priority_aging.as_millis()).unwrap_or(u64::MAX),
        registry: sessions.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let schedules = SchedulesServer::new(api.schedules.clone())
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(stalk_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // v1alpha too: Python's grpcio-reflection client and older grpcurl builds ask for it.
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;
    let routes = Routes::new(health)
        .add_service(InterceptedService::new(queue, auth.clone()))
        .add_service(InterceptedService::new(admin, auth.clone()))
        .add_service(InterceptedService::new(workers, auth.clone()))
        .add_service(InterceptedService::new(schedules, auth.clone()))
        .add_service(InterceptedService::new(reflection, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth));
    Ok((routes, reporter, api))
}

/// Marks every service SERVING again (the broker reopened its store after a storage failure).
pub(crate) async fn set_serving(reporter: &HealthReporter) {
    set_status(reporter, tonic_health::ServingStatus::Serving).await;
}

/// Marks every service NOT_SERVING (shutdown, or a storage failure).
pub(crate) async fn set_not_serving(reporter: &HealthReporter) {
    set_status(reporter, tonic_health::ServingStatus::NotServing).await;
}

/// Sets the health of every service, and of the server as a whole (the empty name).
async fn set_status(reporter: &HealthReporter, status: tonic_health::ServingStatus) {
    use tonic::server::NamedService;
    for name in [
        <TaskQueueServer<tasks::TaskQueueService> as NamedService>::NAME,
        <AdminServer<admin::AdminService> as NamedService>::NAME,
        <WorkersServer<workers::WorkersService> as NamedService>::NAME,
        <SchedulesServer<schedules::SchedulesService> as NamedService>::NAME,
        "",
    ] {
        reporter.set_service_status(name, status).await;
    }
}
