//! The worker: one streaming session, a slot per unit of concurrency, acks on the stream.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use stalk_proto::v1 as pb;
use stalk_proto::v1::workers_client::WorkersClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use tokio_util::sync::CancellationToken;

use crate::context::TaskContext;
use crate::error::{TaskError, WorkerError};
use crate::policy::RetryPolicy;
use crate::pool::{
    child_socket, is_prefork_child, serve_parent, ChildLimits, Done, Ending, Job, Pool, PoolKind,
};
use crate::registry::Registry;
use crate::steps::{
    builtins, order, Settings, Step, StepContext, StepRequest, Steps, POOL, SESSION,
};
use crate::time::{millis, unix_now_ms, TimeLimits};

/// Default concurrency: tasks run at once.
pub const DEFAULT_CONCURRENCY: u32 = 8;
/// Default time running tasks get to finish after a warm shutdown begins.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default heartbeat interval: well within the broker's default 30 s silence limit.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// Default prefetch: 3 tasks waiting per slot, within the broker's 10,000 credits.
fn default_prefetch(concurrency: u32) -> u32 {
    concurrency
        .saturating_mul(3)
        .min(10_000u32.saturating_sub(concurrency))
}

/// Default prefetch lease: how long a pushed task may wait for a free slot in the worker.
pub const DEFAULT_PREFETCH_LEASE: Duration = Duration::from_secs(2);
/// Default lease of a running task (extended while it runs).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    addr: String,
    auth_token: Option<String>,
    worker_id: Option<String>,
    queues: Vec<String>,
    concurrency: u32,
    prefetch: Option<u32>,
    prefetch_lease: Duration,
    lease_duration: Duration,
    heartbeat: Duration,
    shutdown_timeout: Duration,
    time_limits: TimeLimits,
    policy: RetryPolicy,
    registry: Registry,
    pool: PoolKind,
    child_limits: ChildLimits,
    tls_ca: Option<TlsCa>,
    steps: Vec<Box<dyn Step>>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("addr", &self.addr)
            .field("queues", &self.queues)
            .field("concurrency", &self.concurrency)
            .field("pool", &self.pool)
            .field("registry", &self.registry)
            .field(
                "steps",
                &self.steps.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The CA a TLS broker's certificate is checked against.
#[derive(Debug)]
enum TlsCa {
    Pem(Vec<u8>),
    File(std::path::PathBuf),
}

/// What a worker process talks to.
#[derive(Debug)]
enum Link {
    /// The broker: this is the worker.
    Broker(Channel),
    /// A prefork parent's socket: this is one of its children.
    Child(String),
}

/// A connected worker, ready to [`run`](Worker::run).
#[derive(Debug)]
pub struct Worker {
    link: Link,
    /// `Bearer <token>`, sent on the session when the broker needs it.
    authorization: Option<tonic::metadata::AsciiMetadataValue>,
    worker_id: String,
    queues: Vec<String>,
    concurrency: u32,
    prefetch: u32,
    prefetch_lease: Duration,
    lease_duration: Duration,
    shutdown_timeout: Duration,
    time_limits: TimeLimits,
    policy: RetryPolicy,
    registry: Registry,
    /// For the facts it reports.
    pool: PoolKind,
    /// The steps in start order.
    steps: Steps,
}

/// First wait before reconnecting a broken session; doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A task being run.
#[derive(Debug)]
struct Running {
    task_id: String,
    /// Stops the attempt in its pool.
    stop: CancellationToken,
}

/// Running tasks by lease id.
type RunningTasks = HashMap<u64, Running>;

/// The first SIGTERM or ctrl-c.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// This machine's name, for the broker's listing; empty if it cannot be read.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

/// A running task's lease was refused an extension: the attempt now belongs to someone else
/// (or the task was revoked), so it is stopped and not acknowledged.
async fn lost(
    outcome: &pb::ExtendOutcome,
    running: &mut RunningTasks,
    to_broker: &mpsc::Sender<pb::WorkerMessage>,
    stopping: bool,
) {
    let lease = running
        .iter()
        .find(|(_, task)| task.task_id == outcome.task_id)
        .map(|(lease, _)| *lease);
    let Some(task) = lease.and_then(|lease| running.remove(&lease)) else {
        return;
    };
    task.stop.cancel();
    tracing::warn!(task = %task.task_id, "lease lost; the attempt was stopped and is not acked");
    if !stopping {
        let credit = pb::Credit { tasks: 1 };
        let _ = to_broker
            .send(msg(pb::worker_message::Kind::Credit(credit)))
            .await;
    }
}

/// What the steps hand the session loop.
struct Links {
    /// Completions from the pool.
    done: mpsc::UnboundedReceiver<Done>,
    /// Requests of the lease keeper, heartbeat and control handler.
    requests: mpsc::Receiver<StepRequest>,
    /// The control handler's inbox, if there is one.
    commands: Option<mpsc::Sender<pb::ControlRequest>>,
}

/// Hands a control command to the control step; the reply to send when it cannot.
fn forward(
    commands: Option<&mpsc::Sender<pb::ControlRequest>>,
    request: pb::ControlRequest,
) -> Result<(), pb::ControlReply> {
    let request_id = request.request_id;
    let refused = |message: &str| pb::ControlReply {
        request_id,
        ok: false,
        message: message.into(),
        details: HashMap::new(),
    };
    match commands {
        None => Err(refused("this worker runs no control step")),
        Some(commands) => commands
            .try_send(request)
            .map_err(|_| refused("the control step is busy or stopped")),
    }
}

/// How a session ended.
enum SessionEnd {
    /// Warm shutdown finished.
    Done,
    /// The stream broke; reconnect.
    Broken,
}

/// Whether the broker refused the session for a reason a retry cannot fix.
fn is_refusal(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
    )
}

fn msg(kind: pb::worker_message::Kind) -> pb::WorkerMessage {
    pb::WorkerMessage { kind: Some(kind) }
}

impl WorkerBuilder {
    /// Queues to take tasks from, in order. Default: `default`.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// How many tasks run at once; also the credits granted to the broker. Default 8.
    pub fn concurrency(mut self, tasks: u32) -> Self {
        self.concurrency = tasks;
        self
    }

    /// Tasks the broker may push beyond the free slots (default: 3 × the concurrency, so a
    /// worker holds 4 tasks per slot as Celery's default prefetch multiplier does; 0 pushes
    /// only what can start at once). They wait in the worker under a short prefetch
    /// lease and start the moment a slot frees, which saves a round trip to the broker per
    /// task when tasks are short. One that waits past its prefetch lease is back in the broker
    /// for any worker, so long tasks cannot hold quick ones behind them for long.
    pub fn prefetch(mut self, tasks: u32) -> Self {
        self.prefetch = Some(tasks);
        self
    }

    /// How long a pushed task may wait in the worker for a free slot before the broker takes
    /// it back (it is then not an attempt). 100 ms to 12 hours; default 2 s.
    pub fn prefetch_lease(mut self, lease: Duration) -> Self {
        self.prefetch_lease = lease;
        self
    }

    /// The lease a running task holds; the worker extends it every third of this while the task
    /// runs, so long tasks are not handed to another worker. 300 ms to 12 hours; default 30 s.
    pub fn lease_duration(mut self, lease: Duration) -> Self {
        self.lease_duration = lease;
        self
    }

    /// The default soft time limit of every attempt (see [`TaskContext::soft_limit_reached`]).
    pub fn soft_time_limit(mut self, limit: Duration) -> Self {
        self.time_limits.soft = Some(limit);
        self
    }

    /// The default hard time limit of every attempt: past it the attempt is stopped and
    /// reported as a `TimeLimitExceeded` failure.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limits.hard = Some(limit);
        self
    }

    /// Time limits for one task type; they override the worker's and a task's own override
    /// them.
    pub fn task_time_limits(
        mut self,
        name: impl Into<String>,
        soft: Option<Duration>,
        hard: Option<Duration>,
    ) -> Self {
        self.registry.time_limits(name, soft, hard);
        self
    }

    /// Registers an async handler that also takes the attempt's [`TaskContext`]; see
    /// [`Registry::task_with_context`].
    pub fn task_with_context<A, R, F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A, TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        self.registry.task_with_context(name, handler);
        self
    }

    /// Which failures retry, for every task type without its own policy. Default: every
    /// retryable error.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy of one task type, replacing the worker's for it.
    pub fn task_retry_policy(mut self, name: impl Into<String>, policy: RetryPolicy) -> Self {
        self.registry.retry_policy(name, policy);
        self
    }

    /// How long running tasks may take to finish once a warm shutdown begins; past it they are
    /// stopped (cold) and the broker puts them back at once, never acked. Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How often an idle worker tells the broker it is alive; keep it well under the broker's
    /// `--worker-silence`. Default 10 s.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Where attempts run (default [`PoolKind::Async`]). With [`PoolKind::Prefork`] the worker
    /// starts one child process per unit of concurrency by running its own binary again with
    /// the same arguments: the binary must build the same worker (it then serves its parent
    /// instead of connecting to the broker).
    pub fn pool(mut self, kind: PoolKind) -> Self {
        self.pool = kind;
        self
    }

    /// Prefork: replace a child after it ran this many tasks (Celery's
    /// `--max-tasks-per-child`).
    pub fn max_tasks_per_child(mut self, tasks: u32) -> Self {
        self.child_limits.max_tasks = Some(tasks);
        self
    }

    /// Prefork: replace a child after its current task once its resident memory passes this
    /// many bytes (Celery's `--max-memory-per-child`).
    pub fn max_memory_per_child(mut self, bytes: u64) -> Self {
        self.child_limits.max_memory = Some(bytes);
        self
    }

    /// Prefork: kill a child at once when its resident memory passes this many bytes; its
    /// attempt is reported as lost with the cause.
    pub fn max_memory_per_child_hard(mut self, bytes: u64) -> Self {
        self.child_limits.max_memory_hard = Some(bytes);
        self
    }

    /// Prefork: replace a child after its current task once it is this old.
    pub fn max_child_age(mut self, age: Duration) -> Self {
        self.child_limits.max_age = Some(age);
        self
    }

    /// Adds a step (a bootstep) to the worker: it starts after the steps it requires and stops
    /// before them. A step named like a built-in ([`crate::CONNECTION`], [`crate::POOL`],
    /// [`crate::SESSION`], [`crate::LEASE_KEEPER`], [`crate::HEARTBEAT`]) replaces it. User
    /// steps also run in each prefork child, before it serves tasks, so what they provide is
    /// there for the tasks.
    pub fn step(mut self, step: impl Step) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    /// Registers a blocking handler; see [`Registry::task_blocking`].
    pub fn task_blocking<A, R, F>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Result<R, TaskError> + Send + Sync + 'static,
    {
        self.registry.task_blocking(name, handler);
        self
    }

    /// Registers a blocking handler that also takes the attempt's [`TaskContext`]; see
    /// [`Registry::task_blocking_with_context`].
    pub fn task_blocking_with_context<A, R, F>(
        mut self,
        name: impl Into<String>,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A, TaskContext) -> Result<R, TaskError> + Send + Sync + 'static,
    {
        self.registry.task_blocking_with_context(name, handler);
        self
    }

    /// Connects with TLS, trusting only this CA certificate (PEM); a `host:port` address then
    /// means `https://`.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca = Some(TlsCa::Pem(pem.into()));
        self
    }

    /// As [`WorkerBuilder::tls_ca_pem`], with the certificate read from `path` when connecting.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls_ca = Some(TlsCa::File(path.into()));
        self
    }

    /// The broker's auth token (see `stalkd --auth-token`).
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// A stable id for this worker process. Default: `hostname-pid`.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// Registers an async handler (JSON arguments and result); see [`Registry::task`].
    pub fn task<A, R, F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        self.registry.task(name, handler);
        self
    }

    /// Connects to the broker. In a prefork child (started by its parent worker) it connects
    /// to the parent instead, when run.
    ///
    /// # Errors
    /// [`WorkerError::Config`] when no task is registered or a setting is out of range;
    /// [`WorkerError::Connect`] when the broker cannot be reached.
    pub async fn connect(mut self) -> Result<Worker, WorkerError> {
        if self.registry.is_empty() {
            return Err(WorkerError::Config("register at least one task".into()));
        }
        if self.concurrency == 0 {
            return Err(WorkerError::Config("concurrency must be at least 1".into()));
        }
        let prefetch = self
            .prefetch
            .unwrap_or_else(|| default_prefetch(self.concurrency));
        let credits = u64::from(self.concurrency) + u64::from(prefetch);
        if credits > 10_000 {
            return Err(WorkerError::Config(format!(
                "concurrency plus prefetch is {credits}; the broker grants at most 10000"
            )));
        }
        if self.prefetch_lease < Duration::from_millis(100)
            || self.prefetch_lease > Duration::from_secs(12 * 3600)
        {
            return Err(WorkerError::Config(format!(
                "prefetch lease {:?} is outside 100ms..12h",
                self.prefetch_lease
            )));
        }
        if self.lease_duration < Duration::from_millis(300)
            || self.lease_duration > Duration::from_secs(12 * 3600)
        {
            return Err(WorkerError::Config(format!(
                "lease duration {:?} is outside 300ms..12h",
                self.lease_duration
            )));
        }
        if let (Some(soft), Some(hard)) = (
            self.child_limits.max_memory,
            self.child_limits.max_memory_hard,
        ) {
            if hard < soft {
                return Err(WorkerError::Config(format!(
                    "max-memory-per-child-hard ({hard} bytes) is below max-memory-per-child \
                     ({soft} bytes)"
                )));
            }
        }
        if self.child_limits.max_tasks == Some(0) {
            return Err(WorkerError::Config(
                "max-tasks-per-child must be at least 1".into(),
            ));
        }
        let authorization = match &self.auth_token {
            Some(token) => Some(format!("Bearer {}", token.trim()).parse().map_err(|_| {
                WorkerError::Config("the auth token must be printable ASCII".into())
            })?),
            None => None,
        };
        let steps = self.ordered_steps()?;
        let link = match child_socket() {
            Some(path) => Link::Child(path),
            None => {
                let mut client = stalk_client::Client::builder(self.addr.as_str());
                match self.tls_ca.take() {
                    Some(TlsCa::Pem(pem)) => client = client.tls_ca_pem(pem),
                    Some(TlsCa::File(path)) => {
                        let pem = std::fs::read(&path).map_err(|e| {
                            WorkerError::Config(format!(
                                "cannot read the CA certificate {}: {e}",
                                path.display()
                            ))
                        })?;
                        client = client.tls_ca_pem(pem);
                    }
                    None => {}
                }
                Link::Broker(
                    client
                        .connect()
                        .await
                        .map_err(WorkerError::Connect)?
                        .channel(),
                )
            }
        };
        let worker_id = self
            .worker_id
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        Ok(Worker {
            link,
            authorization,
            worker_id,
            queues: self.queues,
            concurrency: self.concurrency,
            prefetch,
            prefetch_lease: self.prefetch_lease,
            lease_duration: self.lease_duration,
            shutdown_timeout: self.shutdown_timeout,
            time_limits: self.time_limits,
            policy: self.policy,
            registry: self.registry,
            steps,
            pool: self.pool,
        })
    }

    /// The built-in steps (less those a user step replaces) and the user's, in start order. A
    /// prefork child runs the user's only.
    fn ordered_steps(&mut self) -> Result<Steps, WorkerError> {
        let user = std::mem::take(&mut self.steps);
        let mut steps: Vec<Box<dyn Step>> = Vec::new();
        let builtin_names = crate::steps::NAMES;
        let satisfied: &[&str] = if is_prefork_child() {
            &builtin_names
        } else {
            let settings = Settings {
                pool: self.pool,
                slots: self.concurrency,
                child_limits: self.child_limits,
                registry: self.registry.clone(),
                keep_every: self.lease_duration / 3,
                heartbeat_every: self.heartbeat,
            };
            steps.extend(
                builtins(settings)
                    .into_iter()
                    .filter(|b| !user.iter().any(|u| u.name() == b.name())),
            );
            &[]
        };
        steps.extend(user);
        order(steps, satisfied)
            .map(Steps)
            .map_err(WorkerError::Steps)
    }
}

impl Worker {
    /// A builder for a worker of the broker at `addr` (`host:port` or a URL).
    pub fn builder(addr: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            addr: addr.into(),
            auth_token: None,
            worker_id: None,
            queues: vec!["default".into()],
            concurrency: DEFAULT_CONCURRENCY,
            prefetch: None,
            prefetch_lease: DEFAULT_PREFETCH_LEASE,
            lease_duration: DEFAULT_LEASE,
            heartbeat: DEFAULT_HEARTBEAT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            time_limits: TimeLimits::default(),
            policy: RetryPolicy::default(),
            registry: Registry::default(),
            pool: PoolKind::default(),
            child_limits: ChildLimits::default(),
            steps: Vec::new(),
            tls_ca: None,
        }
    }

    /// Runs until SIGTERM or ctrl-c, then shuts down warm; a second signal stops the running
    /// tasks at once (cold: never acked, put back by the broker at once).
    ///
    /// # Errors
    /// As [`Worker::run`].
    pub async fn run_until_signal(self) -> Result<(), WorkerError> {
        let (cold_tx, cold_rx) = tokio::sync::oneshot::channel::<()>();
        let warm = async move {
            signal().await;
            tracing::info!("signal: warm shutdown (a second signal stops running tasks)");
            tokio::spawn(async move {
                signal().await;
                let _ = cold_tx.send(());
            });
        };
        self.run_with_cold(warm, async move {
            let _ = cold_rx.await;
        })
        .await
    }

    /// Runs tasks until `shutdown` resolves, then shuts down warm: takes no new task, lets the
    /// running ones finish and acknowledges them, and closes the session with `goodbye` (the
    /// broker puts any task pushed but not started back in its queue at once).
    ///
    /// When the session breaks (the broker restarted, the network failed), the worker
    /// reconnects with backoff, keeps its running tasks, reports them on the new session so the
    /// broker can hand their leases back, and sends the acks it could not send. An ack whose
    /// lease the broker no longer knows is refused there, so nothing is acked twice; the task
    /// runs again elsewhere (at least once).
    ///
    /// # Errors
    /// [`WorkerError::Session`] when the broker refuses the session (a bad setting or token).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        self.run_with_cold(shutdown, std::future::pending()).await
    }

    /// As [`Worker::run`]; once stopping, `cold` resolving stops the running tasks at once.
    ///
    /// # Errors
    /// As [`Worker::run`].
    pub async fn run_with_cold(
        mut self,
        shutdown: impl Future<Output = ()>,
        cold: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let mut steps = std::mem::take(&mut self.steps.0);
        let mut ctx = StepContext::new(self.worker_id.clone());
        ctx.authorization.clone_from(&self.authorization);
        ctx.facts = self.facts();
        if let Link::Broker(channel) = &self.link {
            ctx.channel = Some(channel.clone());
        }
        let mut started = 0;
        let mut result = Ok(());
        for step in &mut steps {
            tracing::debug!(step = step.name(), "starting step");
            if let Err(cause) = step.start(&mut ctx).await {
                result = Err(WorkerError::Step {
                    step: step.name().to_string(),
                    cause,
                });
                break;
            }
            started += 1;
        }
        if result.is_ok() {
            result = match &self.link {
                Link::Child(path) => serve_parent(path, &self.registry, &ctx.resources).await,
                Link::Broker(channel) => {
                    self.serve_steps(channel.clone(), &mut ctx, shutdown, cold)
                        .await
                }
            };
        }
        for step in steps[..started].iter_mut().rev() {
            if let Err(cause) = step.stop(&mut ctx).await {
                tracing::warn!(step = step.name(), %cause, "a step failed to stop");
            }
        }
        result
    }

    /// Runs the session with what the steps started: the pool, its completions and the requests
    /// of the lease keeper, heartbeat and control handler. The pool goes back to the context, for
    /// the pool step to close.
    async fn serve_steps(
        &self,
        channel: Channel,
        ctx: &mut StepContext,
        shutdown: impl Future<Output = ()>,
        cold: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let missing = |what: &str, step: &str| {
            WorkerError::Config(format!(
                "no step provided {what}: a replacement of the {step:?} step must provide it"
            ))
        };
        let pool = ctx.pool.take().ok_or_else(|| missing("the pool", POOL))?;
        let done = ctx.done.take().ok_or_else(|| missing("the pool", POOL));
        let requests = ctx
            .requests_rx
            .take()
            .ok_or_else(|| missing("the session", SESSION));
        let stop = ctx.stop.clone();
        // Shut down on the caller's signal or a step's request (a control command).
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
        };
        let result = match (done, requests) {
            (Ok(done), Ok(requests)) => {
                let links = Links {
                    done,
                    requests,
                    commands: ctx.commands.clone(),
                };
                self.serve(channel, &pool, links, shutdown, cold).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        ctx.pool = Some(pool);
        result
    }

    /// The session loop: opens sessions (again, after a break) and runs what they push until
    /// shutdown.
    async fn serve(
        &self,
        channel: Channel,
        pool: &Pool,
        links: Links,
        shutdown: impl Future<Output = ()>,
        cold: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let Links {
            done: mut done_rx,
            mut requests,
            commands,
        } = links;
        tokio::pin!(cold);
        let mut running: RunningTasks = HashMap::new();
        // Armed when warm shutdown begins.
        let cold_at = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(cold_at);
        let mut unsent: Vec<pb::AckRequest> = Vec::new();
        let mut stopping = false;
        let mut backoff = RECONNECT_MIN;
        tokio::pin!(shutdown);
        loop {
            let (to_broker, outbound) = mpsc::channel(256);
            // Pushed tasks not started yet; a broken session's go back to the broker with it.
            let mut waiting = VecDeque::new();
            for message in self.opening(&running, std::mem::take(&mut unsent), stopping) {
                // The channel is fresh and larger than the opening messages.
                let _ = to_broker.try_send(message);
            }
            let mut request = tonic::Request::new(ReceiverStream::new(outbound));
            if let Some(authorization) = &self.authorization {
                request
                    .metadata_mut()
                    .insert("authorization", authorization.clone());
            }
            let session = WorkersClient::new(channel.clone()).session(request).await;
            let mut from_broker = match session {
                Ok(response) => response.into_inner(),
                Err(status) if is_refusal(&status) => return Err(WorkerError::Session(status)),
                Err(status) => {
                    tracing::warn!(cause = %status, retry_in = ?backoff, "cannot open a session; retrying");
                    unsent.extend(
                        self.wait_out(
                            backoff,
                            &mut done_rx,
                            &mut running,
                            &mut shutdown,
                            &mut stopping,
                        )
                        .await,
                    );
                    if stopping && running.is_empty() && unsent.is_empty() {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    continue;
                }
            };
            backoff = RECONNECT_MIN;
            let ended = loop {
                if stopping && running.is_empty() {
                    break SessionEnd::Done;
                }
                tokio::select! {
                    received = from_broker.message() => match received {
                        Ok(Some(message)) => match message.kind {
                            Some(pb::broker_message::Kind::Control(request)) => {
                                if let Err(unanswered) = forward(commands.as_ref(), request) {
                                    let reply = msg(pb::worker_message::Kind::ControlReply(unanswered));
                                    let _ = to_broker.send(reply).await;
                                }
                            }
                            // Once stopping, pushed tasks are left to the goodbye, which releases them.
                            Some(pb::broker_message::Kind::Tasks(batch)) if !stopping => {
                                for task in batch.tasks {
                                    self.admit(task, &to_broker, &mut waiting).await;
                                }
                                self.run_waiting(&mut waiting, pool, &mut running, &to_broker).await;
                            }
                            Some(pb::broker_message::Kind::Extended(outcome)) if outcome.error.is_some() => {
                                lost(&outcome, &mut running, &to_broker, stopping).await;
                                if !stopping {
                                    self.run_waiting(&mut waiting, pool, &mut running, &to_broker).await;
                                }
                            }
                            _ => {}
                        },
                        Ok(None) | Err(_) => break SessionEnd::Broken,
                    },
                    Some(done) = done_rx.recv() => {
                        let mut finished = vec![done];
                        while let Ok(more) = done_rx.try_recv() {
                            finished.push(more);
                        }
                        for done in &finished {
                            running.remove(&done.lease_id);
                        }
                        let count = u32::try_from(finished.len()).unwrap_or(u32::MAX);
                        let acks: Vec<pb::AckRequest> = finished.into_iter().map(ack).collect();
                        let send = pb::worker_message::Kind::Acks(pb::AckManyRequest { acks: acks.clone() });
                        if to_broker.send(msg(send)).await.is_err() {
                            unsent.extend(acks);
                            break SessionEnd::Broken;
                        }
                        if !stopping {
                            self.run_waiting(&mut waiting, pool, &mut running, &to_broker).await;
                            let credit = pb::Credit { tasks: count };
                            let _ = to_broker.send(msg(pb::worker_message::Kind::Credit(credit))).await;
                        }
                    }
                    Some(asked) = requests.recv() => {
                        let alive = match asked {
                            StepRequest::Heartbeat => {
                                let beat = msg(pb::worker_message::Kind::Heartbeat(pb::Heartbeat {}));
                                to_broker.send(beat).await.is_ok()
                            }
                            StepRequest::KeepLeases => self.keep_leases(&running, &to_broker).await,
                            StepRequest::Reply(reply) => {
                                to_broker.send(msg(pb::worker_message::Kind::ControlReply(reply))).await.is_ok()
                            }
                        };
                        if !alive {
                            break SessionEnd::Broken;
                        }
                    }
                    () = &mut shutdown, if !stopping => {
                        tracing::info!(running = running.len(), "warm shutdown: finishing running tasks");
                        stopping = true;
                        cold_at.as_mut().reset(tokio::time::Instant::now() + self.shutdown_timeout);
                    }
                    () = &mut cold, if stopping => {
                        tracing::warn!(running = running.len(), "cold shutdown: stopping running tasks");
                        for (_, task) in running.drain() {
                            task.stop.cancel();
                        }
                    }
                    () = &mut cold_at, if stopping => {
                        // Cold: the attempts still running are stopped and never acked; the
                        // goodbye below has the broker put them back at once.
                        tracing::warn!(running = running.len(), "shutdown deadline passed; stopping running tasks");
                        for (_, task) in running.drain() {
                            task.stop.cancel();
                        }
                    }
                }
            };
            match ended {
                SessionEnd::Done => {
                    // Answers to control commands still queued (a `shutdown` answered just
                    // before it took effect) go out before the goodbye.
                    while let Ok(asked) = requests.try_recv() {
                        if let StepRequest::Reply(reply) = asked {
                            let reply = msg(pb::worker_message::Kind::ControlReply(reply));
                            let _ = to_broker.send(reply).await;
                        }
                    }
                    // A clean close: the broker releases what is left at once. Its answers to the
                    // last acks are drained so the stream ends in order.
                    let goodbye = pb::worker_message::Kind::Goodbye(pb::Goodbye {});
                    let _ = to_broker.send(msg(goodbye)).await;
                    drop(to_broker);
                    while let Ok(Some(_)) = from_broker.message().await {}
                    return Ok(());
                }
                SessionEnd::Broken => {
                    tracing::warn!(running = running.len(), "session broke; reconnecting");
                }
            }
        }
    }

    /// The first messages of a session: hello, the running tasks (whose leases the broker
    /// hands back), acks that could not be sent, and credits for the free slots.
    fn opening(
        &self,
        running: &RunningTasks,
        unsent: Vec<pb::AckRequest>,
        stopping: bool,
    ) -> Vec<pb::WorkerMessage> {
        let hello = pb::Hello {
            worker_id: self.worker_id.clone(),
            hostname: hostname(),
            pid: std::process::id(),
            queues: self.queues.clone(),
            task_names: self.registry.names(),
            sdk_version: concat!("stalk-worker/", env!("CARGO_PKG_VERSION")).into(),
            lease_duration_ms: millis(self.lease_duration),
            prefetch_lease_ms: millis(self.prefetch_lease),
        };
        let mut messages = vec![msg(pb::worker_message::Kind::Hello(hello))];
        if !running.is_empty() {
            let tasks = running
                .iter()
                .map(|(lease_id, task)| pb::StartedTask {
                    task_id: task.task_id.clone(),
                    lease_id: *lease_id,
                })
                .collect();
            messages.push(msg(pb::worker_message::Kind::Started(pb::Started {
                tasks,
            })));
        }
        if !unsent.is_empty() {
            let acks = pb::AckManyRequest { acks: unsent };
            messages.push(msg(pb::worker_message::Kind::Acks(acks)));
        }
        let free = usize::try_from(self.concurrency.saturating_add(self.prefetch))
            .unwrap_or(usize::MAX)
            .saturating_sub(running.len());
        if !stopping && free > 0 {
            let credit = pb::Credit {
                tasks: u32::try_from(free).unwrap_or(u32::MAX),
            };
            messages.push(msg(pb::worker_message::Kind::Credit(credit)));
        }
        messages
    }

    /// What the worker tells about itself in answer to a ping.
    fn facts(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("pid", std::process::id().to_string()),
            ("hostname", hostname()),
            ("pool", format!("{:?}", self.pool).to_lowercase()),
            ("concurrency", self.concurrency.to_string()),
            ("prefetch", self.prefetch.to_string()),
            ("queues", self.queues.join(",")),
            (
                "sdk",
                concat!("stalk-worker/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A task's time limits: its own, else its type's, else the worker's.
    fn time_limits_of(&self, task: &pb::LeasedTask) -> TimeLimits {
        let own = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        let by_type = self.registry.time_limits_of(&task.name);
        TimeLimits {
            soft: own(task.soft_time_limit_ms)
                .or(by_type.soft)
                .or(self.time_limits.soft),
            hard: own(task.time_limit_ms)
                .or(by_type.hard)
                .or(self.time_limits.hard),
        }
    }

    /// Starts what free slots allow and tells the broker in one `started` message (one lease
    /// change there); grants the credits of pushed tasks that waited past their prefetch lease.
    async fn run_waiting(
        &self,
        waiting: &mut VecDeque<pb::LeasedTask>,
        pool: &Pool,
        running: &mut RunningTasks,
        to_broker: &mpsc::Sender<pb::WorkerMessage>,
    ) {
        let (started, expired) = self.start_waiting(waiting, pool, running);
        if !started.is_empty() {
            let started = pb::Started { tasks: started };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Started(started)))
                .await;
        }
        if expired > 0 {
            tracing::debug!(expired, "pushed tasks waited past their prefetch lease");
            let credit = pb::Credit { tasks: expired };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Credit(credit)))
                .await;
        }
    }

    /// Extends the lease of every running task by the lease duration; `false` when the session
    /// is gone.
    async fn keep_leases(
        &self,
        running: &RunningTasks,
        to_broker: &mpsc::Sender<pb::WorkerMessage>,
    ) -> bool {
        for (lease_id, task) in running {
            let extend = pb::ExtendLeaseRequest {
                task_id: task.task_id.clone(),
                lease_id: *lease_id,
                lease_duration_ms: millis(self.lease_duration),
            };
            let message = msg(pb::worker_message::Kind::Extend(extend));
            if to_broker.send(message).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Waits out a reconnect backoff while running tasks finish; returns their acks.
    async fn wait_out(
        &self,
        backoff: Duration,
        done_rx: &mut mpsc::UnboundedReceiver<Done>,
        running: &mut RunningTasks,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        stopping: &mut bool,
    ) -> Vec<pb::AckRequest> {
        let mut acks = Vec::new();
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return acks,
                Some(done) = done_rx.recv() => {
                    running.remove(&done.lease_id);
                    acks.push(ack(done));
                }
                () = shutdown.as_mut(), if !*stopping => *stopping = true,
            }
        }
    }

    /// Starts one pushed task, records it as running and returns it for the batch's `started`.
    /// A task this worker has no handler for is rejected to the dead-letter set, and its credit
    /// is granted again.
    async fn admit(
        &self,
        task: pb::LeasedTask,
        to_broker: &mpsc::Sender<pb::WorkerMessage>,
        waiting: &mut VecDeque<pb::LeasedTask>,
    ) {
        if !self.registry.contains(&task.name) {
            let reason = format!(
                "no handler for task {:?} in worker {} (it runs: {})",
                task.name,
                self.worker_id,
                self.registry.names().join(", ")
            );
            tracing::warn!(task = %task.task_id, name = %task.name, "unknown task name; rejecting");
            let reject = pb::NackRequest {
                task_id: task.task_id,
                lease_id: task.lease_id,
                action: Some(pb::nack_request::Action::Reject(pb::Reject { reason })),
            };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Nack(reject)))
                .await;
            let credit = pb::Credit { tasks: 1 };
            let _ = to_broker
                .send(msg(pb::worker_message::Kind::Credit(credit)))
                .await;
            return;
        }
        waiting.push_back(task);
    }

    /// Starts waiting tasks while slots are free; returns them for one `started` message, and
    /// how many were dropped because their prefetch lease ran out while they waited (the broker
    /// has taken them back; their credits are due again).
    fn start_waiting(
        &self,
        waiting: &mut VecDeque<pb::LeasedTask>,
        pool: &Pool,
        running: &mut RunningTasks,
    ) -> (Vec<pb::StartedTask>, u32) {
        let slots = usize::try_from(self.concurrency).unwrap_or(usize::MAX);
        let now_ms = unix_now_ms();
        let mut started = Vec::new();
        let mut expired = 0;
        while running.len() < slots {
            let Some(task) = waiting.pop_front() else {
                break;
            };
            if task.lease_deadline_unix_ms > 0 && task.lease_deadline_unix_ms <= now_ms {
                expired += 1;
                continue;
            }
            started.push(self.start(task, pool, running));
        }
        (started, expired)
    }

    /// Submits one task to the pool and records it as running.
    fn start(
        &self,
        task: pb::LeasedTask,
        pool: &Pool,
        running: &mut RunningTasks,
    ) -> pb::StartedTask {
        let started = pb::StartedTask {
            task_id: task.task_id.clone(),
            lease_id: task.lease_id,
        };
        let time_limits = self.time_limits_of(&task);
        let policy = self
            .registry
            .policy(&task.name)
            .unwrap_or(&self.policy)
            .clone();
        let stop = pool.submit(Job {
            task_id: task.task_id.clone(),
            lease_id: task.lease_id,
            name: task.name,
            attempt: task.attempt,
            payload: task.payload,
            time_limits,
            policy,
        });
        running.insert(
            task.lease_id,
            Running {
                task_id: task.task_id,
                stop,
            },
        );
        started
    }
}

/// The ack for a finished run.
fn ack(done: Done) -> pb::AckRequest {
    let result = match done.ending {
        Ending::Finished(result) => result,
        Ending::Lost(cause) => {
            let outcome = pb::ack_request::Outcome::Failure(pb::Failure {
                error: Some(pb::Error {
                    kind: "WorkerLost".into(),
                    message: cause,
                }),
                lost: true,
                ..pb::Failure::default()
            });
            return pb::AckRequest {
                task_id: done.task_id,
                lease_id: done.lease_id,
                outcome: Some(outcome),
            };
        }
    };
    let outcome = match result {
        Ok(value) => pb::ack_request::Outcome::Success(pb::TaskResult {
            value,
            content_type: "application/json".into(),
        }),
        Err(TaskError::Retry {
            kind,
            message,
            countdown,
        }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: false,
            retry_in_ms: countdown.map_or(0, |d| millis(d).max(1)),
            ..pb::Failure::default()
        }),
        Err(TaskError::Fatal { kind, message }) => pb::ack_request::Outcome::Failure(pb::Failure {
            error: Some(pb::Error { kind, message }),
            fatal: true,
            ..pb::Failure::default()
        }),
    };
    pb::AckRequest {
        task_id: done.task_id,
        lease_id: done.lease_id,
        outcome: Some(outcome),
    }
}
