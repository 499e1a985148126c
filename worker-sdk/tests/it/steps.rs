//! Bootsteps: user steps start in dependency order around the built-in ones and stop in
//! reverse; what they provide reaches the tasks; a cycle, a missing requirement or a failing
//! step is a clear startup error.

use std::sync::Arc;

use parking_lot::Mutex;
use stalk_client::{Task, TaskState};
use stalk_testkit::TestBroker;
use stalk_worker::{
    Step, StepContext, StepError, TaskContext, TaskError, Worker, WorkerError, HEARTBEAT, SESSION,
};

use crate::support::{finish, spawn};

/// What the steps did, in order.
type Journal = Arc<Mutex<Vec<String>>>;

/// A step that records its start and stop, requires `requires`, and fails to start if `fail`.
struct Recorded {
    name: &'static str,
    requires: Vec<&'static str>,
    journal: Journal,
    fail: bool,
}

fn recorded(name: &'static str, requires: &[&'static str], journal: &Journal) -> Recorded {
    Recorded {
        name,
        requires: requires.to_vec(),
        journal: journal.clone(),
        fail: false,
    }
}

#[async_trait::async_trait]
impl Step for Recorded {
    fn name(&self) -> &str {
        self.name
    }

    fn requires(&self) -> Vec<String> {
        self.requires.iter().map(|r| (*r).to_string()).collect()
    }

    async fn start(&mut self, ctx: &mut StepContext) -> Result<(), StepError> {
        if self.fail {
            return Err(StepError::new("the database is down"));
        }
        self.journal.lock().push(format!("start {}", self.name));
        ctx.provide(Database {
            url: format!("db-of-{}", ctx.worker_id()),
        });
        Ok(())
    }

    async fn stop(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
        self.journal.lock().push(format!("stop {}", self.name));
        Ok(())
    }
}

/// What the `database` step provides to tasks.
struct Database {
    url: String,
}

#[tokio::test]
async fn steps_start_in_dependency_order_provide_to_tasks_and_stop_in_reverse() {
    let broker = TestBroker::start().await;
    let journal = Journal::default();
    let j = journal.clone();
    let worker = spawn(&broker, move |w| {
        // Registered out of order on purpose.
        w.step(recorded("cache", &["database"], &j))
            .step(recorded("metrics", &[SESSION], &j))
            .step(recorded("database", &[], &j))
            .task_with_context("whoami", |(): (), ctx: TaskContext| async move {
                let db = ctx.resource::<Database>().ok_or_else(|| {
                    TaskError::fatal("NoDatabase", "the database step provided nothing")
                })?;
                Ok::<_, TaskError>(db.url.clone())
            })
    })
    .await;
    let client = broker.client().await;
    let status = finish(&client, Task::new("whoami").json(&()).unwrap()).await;
    assert_eq!(status.state, TaskState::Succeeded, "{status:?}");
    assert_eq!(status.json::<String>().unwrap(), "db-of-test-worker");
    worker.stop().await.unwrap();
    assert_eq!(
        *journal.lock(),
        [
            "start database",
            "start cache",
            "start metrics",
            "stop metrics",
            "stop cache",
            "stop database"
        ]
    );
}

#[tokio::test]
async fn a_cycle_or_a_missing_requirement_is_a_startup_error_naming_the_steps() {
    let broker = TestBroker::start().await;
    let journal = Journal::default();
    let task = |w: stalk_worker::WorkerBuilder| {
        w.task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
    };
    let cycle = task(Worker::builder(broker.url()))
        .step(recorded("a", &["b"], &journal))
        .step(recorded("b", &["a"], &journal))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&cycle, WorkerError::Steps(m) if m.contains("a -> b -> a")),
        "{cycle}"
    );
    let missing = task(Worker::builder(broker.url()))
        .step(recorded("a", &["redis"], &journal))
        .connect()
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("step \"a\" requires \"redis\""),
        "{missing}"
    );
    assert!(journal.lock().is_empty(), "no step started");
}

#[tokio::test]
async fn a_failing_step_stops_the_started_ones_and_the_worker_does_not_run() {
    let broker = TestBroker::start().await;
    let journal = Journal::default();
    let worker = Worker::builder(broker.url())
        .task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
        .step(recorded("cache", &[], &journal))
        .step(Recorded {
            fail: true,
            ..recorded("database", &["cache"], &journal)
        })
        .connect()
        .await
        .unwrap();
    let err = worker.run(std::future::pending()).await.unwrap_err();
    assert!(
        matches!(&err, WorkerError::Step { step, .. } if step == "database"),
        "{err}"
    );
    assert!(err.to_string().contains("the database is down"), "{err}");
    assert_eq!(*journal.lock(), ["start cache", "stop cache"]);
    let workers = broker.client().await.list_workers().await.unwrap();
    assert!(workers.is_empty(), "no session was opened: {workers:?}");
}

#[tokio::test]
async fn a_user_step_replaces_a_built_in_of_the_same_name() {
    let broker = TestBroker::start().await;
    let journal = Journal::default();
    let j = journal.clone();
    let worker = spawn(&broker, move |w| {
        w.step(recorded(HEARTBEAT, &[SESSION], &j))
            .task("noop", |(): ()| async move { Ok::<_, TaskError>(()) })
    })
    .await;
    let client = broker.client().await;
    let status = finish(&client, Task::new("noop").json(&()).unwrap()).await;
    assert_eq!(status.state, TaskState::Succeeded);
    worker.stop().await.unwrap();
    assert_eq!(*journal.lock(), ["start heartbeat", "stop heartbeat"]);
}
