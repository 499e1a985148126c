//! A step (a bootstep) and what steps share: the context they start and stop with.

use std::fmt;

use stalk_proto::v1 as pb;
use tokio::sync::mpsc;

use super::request::StepRequest;
use crate::error::StepError;
use crate::pool::{is_prefork_child, Done, Pool};
use crate::resources::Resources;

/// A component of a worker (Celery's bootstep).
///
/// ```
/// use stalk_worker::{Step, StepContext, StepError};
///
/// /// Opens a connection pool that tasks use through `TaskContext::resource`.
/// struct Database;
///
/// #[stalk_worker::async_trait]
/// impl Step for Database {
///     fn name(&self) -> &str {
///         "database"
///     }
///
///     async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
///         ctx.provide(String::from("postgres://db/app"));
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Step: Send + Sync + 'static {
    /// The step's unique name. A step named like a built-in replaces it.
    fn name(&self) -> &str;

    /// The names of the steps that must start before this one (and stop after it).
    fn requires(&self) -> Vec<String> {
        Vec::new()
    }

    /// Starts the step. An error stops the steps already started, in reverse, and the worker
    /// does not run.
    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError>;

    /// Stops the step; called in the reverse of the start order, when the worker stops.
    async fn stop(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
        Ok(())
    }
}

/// What steps share while the worker starts, runs and stops.
pub struct StepContext {
    pub(crate) worker_id: String,
    pub(crate) resources: Resources,
    /// Set by the connection step's owner: the channel to the broker (none in a prefork child).
    pub(crate) channel: Option<tonic::transport::Channel>,
    pub(crate) authorization: Option<tonic::metadata::AsciiMetadataValue>,
    pub(crate) pool: Option<Pool>,
    pub(crate) done: Option<mpsc::UnboundedReceiver<Done>>,
    /// Where steps send their requests to the session.
    pub(crate) requests: Option<mpsc::Sender<StepRequest>>,
    pub(crate) requests_rx: Option<mpsc::Receiver<StepRequest>>,
    /// Where the session hands control commands; none without a control step.
    pub(crate) commands: Option<mpsc::Sender<pb::ControlRequest>>,
    pub(crate) stop: tokio_util::sync::CancellationToken,
    pub(crate) facts: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for StepContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepContext")
            .field("worker_id", &self.worker_id)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

impl StepContext {
    pub(crate) fn new(worker_id: String) -> Self {
        Self {
            worker_id,
            resources: Resources::default(),
            channel: None,
            authorization: None,
            pool: None,
            done: None,
            requests: None,
            requests_rx: None,
            commands: None,
            stop: tokio_util::sync::CancellationToken::new(),
            facts: std::collections::BTreeMap::new(),
        }
    }

    /// Asks the worker to shut down warm, as SIGTERM does (a step that watches for a reason to
    /// stop, or the control step on a `shutdown` command).
    pub fn request_shutdown(&self) {
        self.stop.cancel();
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Makes `value` available to later steps and to every task (see
    /// [`crate::TaskContext::resource`]), replacing one of the same type.
    pub fn provide<T: Send + Sync + 'static>(&mut self, value: T) {
        self.resources.insert(value);
    }

    /// A value an earlier step provided.
    pub fn resource<T: Send + Sync + 'static>(&self) -> Option<std::sync::Arc<T>> {
        self.resources.get::<T>()
    }

    /// Whether this process is a prefork child: only user steps run there (to provide what
    /// tasks use); the built-in ones run in the parent.
    pub fn is_prefork_child(&self) -> bool {
        is_prefork_child()
    }
}

/// Steps in start order.
pub(crate) struct Steps(pub(crate) Vec<Box<dyn Step>>);

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| s.name().to_string()))
            .finish()
    }
}
