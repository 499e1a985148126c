//! `Engine::apply`: one handler per command.

use super::command::{Command, Outcome, Reply, Timer};
use super::ctx::Ctx;
use super::{Engine, EngineError};

impl Engine {
    /// Applies one command at the time and sequence number of `ctx`.
    ///
    /// # Errors
    /// [`EngineError::TaskNotFound`] for an unknown id, [`EngineError::StaleLease`] when a lease is
    /// not current. A refused command changes nothing. Enqueue never fails as a whole: refused
    /// tasks are reported in its reply.
    pub fn apply(&mut self, command: Command, ctx: Ctx) -> Result<Outcome, EngineError> {
        match command {
            Command::Enqueue(tasks) => Ok(self.enqueue(tasks, ctx)),
            Command::SettleFlows => Ok(self.settle_flows(ctx)),
            Command::EnqueueWorkflow { id, tree, tasks } => {
                Ok(self.enqueue_workflow(id, tree, tasks, ctx))
            }
            Command::Lease {
                queues,
                max,
                lease_ms,
                prefetch,
                worker,
            } => Ok(self.lease(&queues, max, (lease_ms, prefetch), worker, ctx)),
            Command::Ack {
                id,
                lease_id,
                outcome,
            } => self.ack(&id, lease_id, outcome, ctx, (0, &mut 1)),
            Command::AckMany(acks) => Ok(self.ack_many(acks, ctx)),
            Command::Nack {
                id,
                lease_id,
                action,
            } => self.nack(&id, lease_id, action, ctx),
            Command::Extend {
                id,
                lease_id,
                lease_ms,
            } => self.extend(&id, lease_id, lease_ms, ctx),
            Command::Revoke {
                ids,
                headers,
                remember_ms,
            } => self.revoke(ids, headers, remember_ms, ctx),
            Command::Release { leases, cause } => Ok(self.release(leases, &cause, ctx)),
            Command::Start(leases) => Ok(self.start_many(leases, ctx)),
            Command::Purge {
                queue,
                dead_letters,
            } => Ok(self.purge(&queue, dead_letters, ctx)),
            Command::Replay { queue, ids, limit } => Ok(self.replay(&queue, &ids, limit, ctx)),
            Command::Tick {
                timer: Timer::Schedule,
                limit,
            } => Ok(self.fire_schedules(limit, ctx)),
            Command::Tick {
                timer: Timer::Limit,
                limit,
            } => Ok(self.tick_limits(limit, ctx)),
            Command::Tick { timer, limit } => Ok(self.tick(timer, limit, ctx)),
            Command::PauseQueue { queue, paused } => Ok(self.pause_queue(&queue, paused, ctx)),
            Command::Record(events) => {
                let mut out = Outcome::new(Reply::Ticked(0));
                out.durable = false;
                out.events = events;
                Ok(out)
            }
            Command::PutSchedule(schedule) => Ok(self.put_schedule(*schedule, ctx)),
            Command::SetLimit { key, limit } => self.set_limit(key, limit, ctx),
            Command::DeleteSchedule(name) => self.delete_schedule(&name),
            Command::PauseSchedule { name, paused } => self.pause_schedule(&name, paused, ctx),
        }
    }
}
