//! The broker's health, as its standard gRPC health service (`grpc.health.v1`) reports it: what
//! container health checks and load balancers ask.

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::{Client, ClientError};

impl Client {
    /// Whether the broker serves `service` (`""` for the broker as a whole, or a service's full
    /// name such as `stalk.v1.TaskQueue`). It does not while it starts, shuts down or cannot
    /// write to its data dir. The health service needs no auth token.
    ///
    /// # Errors
    /// [`ClientError::Status`]: `NOT_FOUND` for a service the broker does not have, or what
    /// the call failed with.
    pub async fn is_serving(&self, service: &str) -> Result<bool, ClientError> {
        let response = HealthClient::new(self.channel())
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner();
        Ok(response.status == ServingStatus::Serving as i32)
    }
}
