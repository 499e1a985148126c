//! [`WorkerBuilder`]: a worker's settings, checked when it connects.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::commands::{CommandArgs, CommandReply, ControlCommands};
use crate::context::TaskContext;
use crate::error::{TaskError, WorkerError};
use crate::identity::{hostname, SDK_VERSION};
use crate::link::{Link, TlsCa};
use crate::metrics::{self, MetricsServer, WorkerIdentity, WorkerMetrics};
use crate::policy::RetryPolicy;
use crate::pool::{is_prefork_child, ChildLimits, PoolKind};
use crate::registry::Registry;
use crate::session::SessionSettings;
use crate::steps::{builtins, order, Settings, Step, Steps, NAMES};
use crate::time::TimeLimits;
use crate::worker::{pool_name, Worker};

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
    /// User-defined control commands.
    commands: ControlCommands,
    pool: PoolKind,
    child_limits: ChildLimits,
    tls_ca: Option<TlsCa>,
    wait_for_broker: Option<Duration>,
    metrics_listen: Option<String>,
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
    /// reported as a `TimeLimitExceeded` failure. Code on a thread cannot be stopped: it keeps
    /// its slot until it returns (see [`PoolKind::Threads`]).
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

    /// Registers a control command `name`, run by `stalk control custom NAME --arg k=v` (or
    /// `WorkerCommand::Custom` through the client): `handler` gets the arguments and answers
    /// `Ok(reply)` (`ok = true`, its message and details) or `Err(why)` (`ok = false`). It is
    /// plain code and runs on a blocking thread, one command at a time; a panic in it is
    /// answered as such. A name registered twice keeps the last handler; an unknown name is
    /// answered `ok = false` with the names this worker knows.
    ///
    /// ```no_run
    /// use stalk_worker::{CommandReply, TaskError, Worker};
    ///
    /// let builder = Worker::builder("127.0.0.1:7070")
    ///     .task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
    ///     .control_command("greet", |args| {
    ///         let who = args.get("who").map_or("world", String::as_str);
    ///         Ok(CommandReply::new(format!("hello, {who}")).detail("greeted", who))
    ///     });
    /// ```
    pub fn control_command<F>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(&CommandArgs) -> Result<CommandReply, String> + Send + Sync + 'static,
    {
        self.commands.insert(name.into(), Arc::new(handler));
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

    /// How long [`WorkerBuilder::connect`] waits for a broker that does not answer (not
    /// started yet, restarting, unreachable) before it fails. Default: forever, retrying with
    /// jittered backoff (at most 5 s apart) and logging each wait, as a Celery worker does; a
    /// worker and its broker may then start in any order.
    pub fn wait_for_broker(mut self, at_most: Duration) -> Self {
        self.wait_for_broker = Some(at_most);
        self
    }

    /// Serves Prometheus metrics on `/metrics` of this `HOST:PORT` (port 0 picks a free one;
    /// [`Worker::metrics_addr`] and the log line `metrics listening on ADDR` say which). Off by
    /// default: it opens a port, and which one, on which interface, is the operator's choice.
    /// The address is bound by [`WorkerBuilder::connect`], before it waits for the broker.
    ///
    /// The metrics are named `stalk_worker_*` (the README lists them); the `task` label is
    /// capped at 256 distinct task names, the worker's own first, and later names share
    /// `task="_other"`, because anyone who can enqueue chooses task names. A prefork child
    /// serves none: the parent counts every attempt.
    pub fn metrics_listen(mut self, addr: impl Into<String>) -> Self {
        self.metrics_listen = Some(addr.into());
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

    /// Connects to the broker, waiting for it to answer (see
    /// [`WorkerBuilder::wait_for_broker`]). In a prefork child (started by its parent worker)
    /// it connects to the parent instead, when run.
    ///
    /// # Errors
    /// [`WorkerError::Config`] when no task is registered or a setting is out of range;
    /// [`WorkerError::MetricsListen`] when the metrics address cannot be listened on;
    /// [`WorkerError::Connect`] when the address cannot be used or the broker did not answer
    /// within the wait.
    pub async fn connect(mut self) -> Result<Worker, WorkerError> {
        let prefetch = self.checked_prefetch()?;
        let authorization = match &self.auth_token {
            Some(token) => Some(format!("Bearer {}", token.trim()).parse().map_err(|_| {
                WorkerError::Config("the auth token must be printable ASCII".into())
            })?),
            None => None,
        };
        let worker_id = self
            .worker_id
            .take()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        // Bound before waiting for the broker: a taken port fails at once, and the worker can
        // be scraped (slots, no reconnects yet) while it waits.
        let (metrics, metrics_server) = self.start_metrics(&worker_id).await?;
        let steps = self.ordered_steps(&metrics)?;
        let link = Link::open(&self.addr, self.tls_ca.take(), self.wait_for_broker).await?;
        let settings = SessionSettings {
            worker_id,
            authorization,
            queues: self.queues,
            concurrency: self.concurrency,
            prefetch,
            prefetch_lease: self.prefetch_lease,
            lease_duration: self.lease_duration,
            shutdown_timeout: self.shutdown_timeout,
            time_limits: self.time_limits,
            policy: self.policy,
            registry: self.registry,
            metrics,
        };
        Ok(Worker::new(
            self.addr,
            link,
            settings,
            self.pool,
            steps,
            metrics_server,
        ))
    }

    /// The metrics and their endpoint when `/metrics` is asked for; metrics that record
    /// nothing otherwise. A prefork child serves none: it runs this binary with the parent's
    /// flags, so it would find the port taken, and the parent counts every attempt anyway.
    async fn start_metrics(
        &self,
        worker_id: &str,
    ) -> Result<(WorkerMetrics, Option<MetricsServer>), WorkerError> {
        let listen = match &self.metrics_listen {
            Some(listen) if !is_prefork_child() => listen,
            _ => return Ok((WorkerMetrics::off(), None)),
        };
        let (listener, addr) = metrics::bind(listen).await?;
        let identity = WorkerIdentity {
            worker_id,
            pool: &pool_name(self.pool),
            sdk: SDK_VERSION,
        };
        let prefork = self.pool == PoolKind::Prefork;
        let metrics =
            WorkerMetrics::new(self.concurrency, prefork, &self.registry.names(), &identity);
        let server = MetricsServer::start(listener, addr, metrics.clone());
        Ok((metrics, Some(server)))
    }

    /// Checks the settings; the prefetch, defaulted.
    fn checked_prefetch(&self) -> Result<u32, WorkerError> {
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
        Ok(prefetch)
    }

    /// The built-in steps (less those a user step replaces) and the user's, in start order. A
    /// prefork child runs the user's only.
    fn ordered_steps(&mut self, metrics: &WorkerMetrics) -> Result<Steps, WorkerError> {
        let user = std::mem::take(&mut self.steps);
        let mut steps: Vec<Box<dyn Step>> = Vec::new();
        let satisfied: &[&str] = if is_prefork_child() {
            &NAMES
        } else {
            let settings = Settings {
                pool: self.pool,
                slots: self.concurrency,
                child_limits: self.child_limits,
                registry: self.registry.clone(),
                keep_every: self.lease_duration / 3,
                heartbeat_every: self.heartbeat,
                metrics: metrics.clone(),
                commands: self.commands.clone(),
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
            commands: ControlCommands::default(),
            pool: PoolKind::default(),
            child_limits: ChildLimits::default(),
            steps: Vec::new(),
            tls_ca: None,
            wait_for_broker: None,
            metrics_listen: None,
        }
    }
}
