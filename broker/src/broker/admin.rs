//! The admin operations of the broker core: purge, replay, schedules, limits, timers, and the
//! read-only views the admin services show.

use std::sync::Arc;

use super::{Broker, BrokerError, TICK_BATCH};
use crate::engine::limits::{Held, Limit, LimitInfo, LimitKey};
use crate::engine::schedule::Schedule;
use crate::engine::{Command, Counts, Page, PageToken, Reply, TaskId, TaskState, Timer};

impl Broker {
    /// Deletes a queue's waiting tasks, or its dead letters; returns how many went.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge(&self, queue: String, dead_letters: bool) -> Result<u64, BrokerError> {
        let command = Command::Purge {
            queue,
            dead_letters,
        };
        match self.execute(command).await?.reply {
            Reply::Purged(purged) => Ok(purged),
            other => Err(BrokerError::unexpected("Purge", &other)),
        }
    }

    /// Pauses or resumes a queue (durably); answers whether anything changed.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn pause_queue(&self, queue: String, paused: bool) -> Result<bool, BrokerError> {
        match self
            .execute(Command::PauseQueue { queue, paused })
            .await?
            .reply
        {
            Reply::Paused(changed) => Ok(changed),
            other => Err(BrokerError::unexpected("PauseQueue", &other)),
        }
    }

    /// The task with this id as `explain` needs it.
    pub fn task_view(&self, id: &str) -> Option<crate::engine::TaskView> {
        self.core.lock().engine.view(id)
    }

    /// The paused queues, sorted.
    pub fn paused_queues(&self) -> Vec<Arc<str>> {
        self.core.lock().engine.paused_queues()
    }

    /// Puts a queue's dead letters back to READY (only `ids` when given, at most `limit`);
    /// returns the ids put back.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn replay(
        &self,
        queue: String,
        ids: Vec<String>,
        limit: usize,
    ) -> Result<Vec<TaskId>, BrokerError> {
        let command = Command::Replay { queue, ids, limit };
        match self.execute(command).await?.reply {
            Reply::Replayed(ids) => Ok(ids),
            other => Err(BrokerError::unexpected("Replay", &other)),
        }
    }

    /// Creates a schedule, or replaces the one of the same name (keeping when it last fired);
    /// returns it as stored.
    ///
    /// # Errors
    /// [`crate::engine::EngineError::InvalidArgument`] for a schedule the engine refuses;
    /// storage failures.
    pub async fn put_schedule(&self, schedule: Schedule) -> Result<Schedule, BrokerError> {
        let command = Command::PutSchedule(Box::new(schedule));
        match self.execute(command).await?.reply {
            Reply::Schedule(schedule) => Ok(*schedule),
            other => Err(BrokerError::unexpected("PutSchedule", &other)),
        }
    }

    /// Deletes a schedule by name; returns whether it existed.
    ///
    /// # Errors
    /// [`crate::engine::EngineError::ScheduleNotFound`]; storage failures.
    pub async fn delete_schedule(&self, name: String) -> Result<bool, BrokerError> {
        match self.execute(Command::DeleteSchedule(name)).await?.reply {
            Reply::Deleted(existed) => Ok(existed),
            other => Err(BrokerError::unexpected("DeleteSchedule", &other)),
        }
    }

    /// Pauses (or resumes) a schedule by name; returns it as stored.
    ///
    /// # Errors
    /// [`crate::engine::EngineError::ScheduleNotFound`]; storage failures.
    pub async fn pause_schedule(
        &self,
        name: String,
        paused: bool,
    ) -> Result<Schedule, BrokerError> {
        let command = Command::PauseSchedule { name, paused };
        match self.execute(command).await?.reply {
            Reply::Schedule(schedule) => Ok(*schedule),
            other => Err(BrokerError::unexpected("PauseSchedule", &other)),
        }
    }

    /// Sets the limit `key` (`None` removes it); returns every limit now.
    ///
    /// # Errors
    /// [`crate::engine::EngineError::LimitNotFound`] when removing a limit that is not set;
    /// storage failures.
    pub async fn set_limit(
        &self,
        key: LimitKey,
        limit: Option<Limit>,
    ) -> Result<Vec<LimitInfo>, BrokerError> {
        match self.execute(Command::SetLimit { key, limit }).await?.reply {
            Reply::Limits(all) => Ok(all),
            other => Err(BrokerError::unexpected("SetLimit", &other)),
        }
    }

    /// Counts per queue.
    pub fn stats(&self, queues: &[String]) -> Vec<(Arc<str>, Counts)> {
        self.core.lock().engine.stats(queues)
    }

    /// Per queue with READY tasks, when its longest-waiting one became ready, unix ms.
    pub fn oldest_ready(&self) -> Vec<(Arc<str>, u64)> {
        self.core.lock().engine.oldest_ready()
    }

    /// Every limit, by scope and header.
    pub fn limits(&self) -> Vec<LimitInfo> {
        self.core.lock().engine.limits()
    }

    /// Every schedule, by name.
    pub fn schedules(&self) -> Vec<Schedule> {
        self.core
            .lock()
            .engine
            .schedules()
            .into_iter()
            .cloned()
            .collect()
    }

    /// The schedule named `name`.
    pub fn schedule(&self, name: &str) -> Option<Schedule> {
        self.core.lock().engine.schedule(name).cloned()
    }

    /// A page of a queue's tasks in one state; a first page of READY tasks is in the lease
    /// order at the clock's time now.
    ///
    /// # Errors
    /// A token from a listing of another state.
    pub fn list(
        &self,
        queue: &str,
        state: TaskState,
        after: Option<PageToken>,
        page_size: usize,
    ) -> Result<(Page, Vec<Option<Held>>), BrokerError> {
        let now_ms = self.clock.now_ms();
        let core = self.core.lock();
        let page = core.engine.list(queue, state, after, page_size, now_ms)?;
        let held = page
            .tasks
            .iter()
            .map(|t| core.engine.held(t.key).cloned())
            .collect();
        Ok((page, held))
    }

    /// Runs one timer's due transitions; returns its next deadline (unix ms).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn tick(&self, timer: Timer) -> Result<Option<u64>, BrokerError> {
        loop {
            let outcome = self
                .execute(Command::Tick {
                    timer,
                    limit: TICK_BATCH,
                })
                .await?;
            match outcome.reply {
                Reply::Ticked(n) if n == TICK_BATCH => {}
                Reply::Ticked(_) => break,
                other => return Err(BrokerError::unexpected("Tick", &other)),
            }
        }
        Ok(self.core.lock().engine.next_deadline(timer))
    }
}
