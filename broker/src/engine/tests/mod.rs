//! Engine unit tests: time and sequence driven by hand, no network, no disk.

use super::*;

mod acks;
mod grafts;
mod lease_order;
mod leasing;
mod lifecycle;
mod limited;
mod lost_attempts;
mod operator;
mod periodic;
mod starts;
mod workflows;

const TTL: u64 = 60_000;

/// Strict priorities (no aging) unless a test says otherwise.
const CONFIG: EngineConfig = EngineConfig {
    result_ttl_ms: TTL,
    priority_aging_ms: 0,
};

/// An engine with a hand-driven clock and sequencer.
struct Harness {
    engine: Engine,
    now: u64,
    seq: u64,
}

impl Harness {
    fn new() -> Self {
        Self {
            engine: Engine::new(CONFIG),
            now: 1_000_000,
            seq: 1,
        }
    }

    fn run(&mut self, command: Command) -> Result<Outcome, EngineError> {
        let ctx = Ctx {
            now_ms: self.now,
            seq: self.seq,
        };
        self.seq += 1;
        self.engine.apply(command, ctx)
    }

    fn enqueue(&mut self, task: NewTask) -> Enqueued {
        let outcome = self.run(Command::Enqueue(vec![task])).expect("enqueue");
        let Reply::Enqueued(mut results) = outcome.reply else {
            panic!("enqueue answered {:?}", outcome.reply)
        };
        results.remove(0)
    }

    fn lease(&mut self, queue: &str, max: usize) -> Vec<Granted> {
        let outcome = self
            .run(Command::Lease {
                queues: vec![queue.to_string()],
                max,
                lease_ms: Some(5_000),
                prefetch: false,
                worker: None,
            })
            .expect("lease");
        let Reply::Leased(granted) = outcome.reply else {
            panic!("lease answered {:?}", outcome.reply)
        };
        granted
    }

    fn ack_ok(&mut self, g: &Granted) -> Result<Outcome, EngineError> {
        self.run(Command::Ack {
            id: g.meta.id.to_string(),
            lease_id: g.lease_id,
            outcome: AckOutcome::Success(TaskResult::default()),
        })
    }

    fn fail(&mut self, g: &Granted, fatal: bool) -> TaskState {
        let outcome = self
            .run(Command::Ack {
                id: g.meta.id.to_string(),
                lease_id: g.lease_id,
                outcome: AckOutcome::Failure {
                    error: TaskError {
                        kind: "Boom".into(),
                        message: "it broke".into(),
                    },
                    fatal,
                    retry_at: None,
                    lost: false,
                },
            })
            .expect("failure ack");
        let Reply::State(state) = outcome.reply else {
            panic!("ack answered {:?}", outcome.reply)
        };
        state
    }

    fn tick(&mut self, timer: Timer) -> usize {
        let outcome = self
            .run(Command::Tick { timer, limit: 1000 })
            .expect("tick");
        let Reply::Ticked(n) = outcome.reply else {
            panic!("tick answered {:?}", outcome.reply)
        };
        n
    }

    fn state(&self, id: &str) -> Option<TaskState> {
        self.engine.get(id).map(|m| m.state)
    }
}

fn task(id: &str) -> NewTask {
    NewTask {
        id: TaskId::new(id),
        name: "test.task".into(),
        queue: "q".into(),
        priority: 0,
        unique_key: None,
        options: TaskOptions::default(),
        expires: None,
        eta: None,
        body: TaskBody::default(),
        flow: None,
    }
}

/// Revokes these ids (nothing by header).
fn revoke(ids: &[&str]) -> Command {
    Command::Revoke {
        ids: ids.iter().map(|id| id.to_string()).collect(),
        headers: Vec::new(),
        remember_ms: 60_000,
    }
}

fn ids(granted: &[Granted]) -> Vec<String> {
    granted.iter().map(|g| g.meta.id.to_string()).collect()
}
