//! The acks sent on a connection and not answered yet, matched to the broker's answers.
//!
//! Answers to several `acks` messages come in any order (each goes out once its own flush is
//! done), so every result is matched to its ack by the lease id it names, never by position.

use std::collections::HashMap;

use stalk_proto::v1 as pb;

use super::ack::Ack;
use crate::metrics::{Outcome, WorkerMetrics};

/// Acks awaiting the broker's answer, and how many it refused.
#[derive(Debug, Default)]
pub(crate) struct AckLedger {
    /// Sent on the current connection, by lease id.
    sent: HashMap<u64, Ack>,
    /// Acks the broker refused since the worker started.
    refused: u64,
}

impl AckLedger {
    /// These acks went out; they wait for their answer.
    pub(crate) fn sent(&mut self, acks: Vec<Ack>) {
        self.sent
            .extend(acks.into_iter().map(|ack| (ack.lease_id(), ack)));
    }

    /// The broker answered acks: an accepted one is reported as final, a refused one is
    /// logged with the broker's reason and counted; `metrics` counts both by outcome.
    pub(crate) fn answered(&mut self, answer: pb::AckManyResponse, metrics: &WorkerMetrics) {
        for result in answer.results {
            // Lease ids are unique across tasks, so the lease alone names the ack.
            let Some(ack) = self.sent.remove(&result.lease_id) else {
                tracing::debug!(task = %result.task_id, lease = result.lease_id, "an answer to no ack of this connection; ignored");
                continue;
            };
            let outcome = match &result.error {
                Some(error) => {
                    self.refused += 1;
                    ack.refused(error);
                    Outcome::Refused
                }
                None => ack.accepted(),
            };
            metrics.task_ended(ack.name(), outcome);
        }
    }

    /// The connection ended: answers to what it sent will not come. The acks are not sent
    /// again (a repeated failure ack would be refused though the first was taken); should the
    /// broker not have them, their tasks run again.
    pub(crate) fn connection_ended(&mut self) {
        for (_, ack) in self.sent.drain() {
            ack.unanswered();
        }
    }

    /// How many acks the broker refused since the worker started.
    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use stalk_proto::v1 as pb;

    use super::AckLedger;
    use crate::context::TaskMeta;
    use crate::metrics::{WorkerIdentity, WorkerMetrics};
    use crate::pool::{Done, Ending};
    use crate::session::ack::Ack;

    fn ack(task_id: &str, lease_id: u64) -> Ack {
        let leased = pb::LeasedTask {
            task_id: task_id.into(),
            name: "t".into(),
            lease_id,
            attempt: 1,
            ..pb::LeasedTask::default()
        };
        Ack::new(Done {
            lease_id,
            meta: Arc::new(TaskMeta::from_leased(&leased)),
            ending: Ending::Finished(Ok(b"null".to_vec())),
            handoff: crate::context::Handoff::default(),
            elapsed: Duration::from_millis(1),
        })
    }

    fn result(task_id: &str, lease_id: u64, refused: bool) -> pb::AckManyResult {
        pb::AckManyResult {
            task_id: task_id.into(),
            lease_id,
            state: if refused {
                pb::TaskState::Unspecified
            } else {
                pb::TaskState::Succeeded
            }
            .into(),
            error: refused.then(|| pb::Error {
                kind: "FAILED_PRECONDITION".into(),
                message: "lease 7 of task b is not current".into(),
            }),
        }
    }

    #[test]
    fn answers_are_matched_by_lease_whatever_their_order_and_refusals_counted() {
        let mut ledger = AckLedger::default();
        ledger.sent(vec![ack("a", 5)]);
        ledger.sent(vec![ack("b", 7), ack("c", 9)]);
        // The second message's answer overtakes the first's.
        ledger.answered(
            pb::AckManyResponse {
                results: vec![result("b", 7, true), result("c", 9, false)],
            },
            &WorkerMetrics::off(),
        );
        assert_eq!(ledger.refused(), 1);
        ledger.answered(
            pb::AckManyResponse {
                results: vec![result("a", 5, false)],
            },
            &WorkerMetrics::off(),
        );
        assert_eq!(ledger.refused(), 1, "an accepted ack is not counted");
        assert!(ledger.sent.is_empty(), "every ack was answered");
    }

    #[test]
    fn answered_acks_are_counted_by_outcome_refusals_included() {
        let identity = WorkerIdentity {
            worker_id: "w",
            pool: "async",
            sdk: "test",
        };
        let metrics = WorkerMetrics::new(1, false, &["t".into()], &identity);
        let mut ledger = AckLedger::default();
        ledger.sent(vec![ack("a", 5), ack("b", 7)]);
        ledger.answered(
            pb::AckManyResponse {
                results: vec![result("a", 5, false), result("b", 7, true)],
            },
            &metrics,
        );
        let text = metrics.render().expect("metrics are on");
        for outcome in ["succeeded", "refused"] {
            let line = format!("stalk_worker_tasks_total{{task=\"t\",outcome=\"{outcome}\"}} 1\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
    }

    #[test]
    fn an_answer_to_no_ack_sent_here_is_ignored() {
        let mut ledger = AckLedger::default();
        ledger.sent(vec![ack("a", 5)]);
        ledger.answered(
            pb::AckManyResponse {
                results: vec![result("x", 6, true)],
            },
            &WorkerMetrics::off(),
        );
        assert_eq!(ledger.refused(), 0);
        assert_eq!(ledger.sent.len(), 1, "the ack still waits for its answer");
    }
}
