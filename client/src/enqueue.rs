//! Producing tasks: [`Client::enqueue`], [`Client::enqueue_many`] and the [`TaskHandle`] they return.

use std::time::Duration;

use stalk_proto::v1;

use crate::client::Client;
use crate::error::ClientError;
use crate::state::TaskState;
use crate::status::TaskStatus;
use crate::task::Task;

/// An enqueued task, as the broker acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHandle {
    /// The task id: the one supplied, the generated one, or that of the existing task which
    /// already had this id or unique key.
    pub id: String,
    /// True if this call created the task; false if an existing task was returned.
    pub created: bool,
    /// The task's state right after the call.
    pub state: TaskState,
}

impl TaskHandle {
    /// Waits up to `timeout` for the task to finish and returns its status; see
    /// [`Client::wait_for`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Timeout`] if the task is not terminal after `timeout`, and the errors of
    /// [`Client::result`].
    pub async fn wait(
        &self,
        client: &Client,
        timeout: Duration,
    ) -> Result<TaskStatus, ClientError> {
        client.wait_for(&self.id, timeout).await
    }
}

impl Client {
    /// Enqueues one task. When this returns `Ok` the task is durable (under the broker's
    /// default durability mode). Enqueueing an existing id or live unique key returns the
    /// existing task with `created == false`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Rejected`] if the broker refused the task (bad name, payload too large,
    /// …), [`ClientError::Status`] if it refused the call, [`ClientError::Protocol`] for a
    /// malformed answer.
    pub async fn enqueue(&self, task: Task) -> Result<TaskHandle, ClientError> {
        let mut outcomes = self.enqueue_many(std::iter::once(task)).await?;
        match (outcomes.pop(), outcomes.is_empty()) {
            (Some(outcome), true) => outcome,
            _ => Err(ClientError::Protocol(
                "Enqueue of one task did not answer exactly one outcome".into(),
            )),
        }
    }

    /// Enqueues a batch of tasks (at most 1000) in one call. Each task is accepted or refused
    /// on its own; the result has one entry per task, in order, with
    /// [`ClientError::Rejected`] for a refused task. An empty batch makes no call.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the broker refused the whole call (e.g. a batch over 1000),
    /// [`ClientError::Protocol`] if it answered a different number of outcomes or a state this
    /// client does not know.
    pub async fn enqueue_many(
        &self,
        tasks: impl IntoIterator<Item = Task>,
    ) -> Result<Vec<Result<TaskHandle, ClientError>>, ClientError> {
        let specs: Vec<v1::TaskSpec> = tasks.into_iter().map(Task::into_spec).collect();
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        // Kept to name refused tasks: the broker leaves `task_id` empty for them.
        let ids: Vec<Option<String>> = specs
            .iter()
            .map(|spec| (!spec.task_id.is_empty()).then(|| spec.task_id.clone()))
            .collect();
        let response = self
            .tasks()
            .enqueue(v1::EnqueueRequest {
                tasks: specs,
                workflows: Vec::new(),
            })
            .await?
            .into_inner();
        if response.outcomes.len() != ids.len() {
            return Err(ClientError::Protocol(format!(
                "Enqueue of {} tasks answered {} outcomes",
                ids.len(),
                response.outcomes.len()
            )));
        }
        response
            .outcomes
            .into_iter()
            .zip(ids)
            .map(|(outcome, id)| handle_from_outcome(outcome, id))
            .collect()
    }
}

/// One outcome: `Ok(Ok(handle))`, `Ok(Err(Rejected))`, or `Err` for a malformed outcome.
fn handle_from_outcome(
    outcome: v1::EnqueueOutcome,
    requested_id: Option<String>,
) -> Result<Result<TaskHandle, ClientError>, ClientError> {
    if let Some(error) = outcome.error {
        return Ok(Err(ClientError::Rejected {
            task_id: requested_id,
            kind: error.kind,
            message: error.message,
        }));
    }
    if outcome.task_id.is_empty() {
        return Err(ClientError::Protocol(
            "an Enqueue outcome has neither a task id nor an error".into(),
        ));
    }
    Ok(Ok(TaskHandle {
        state: TaskState::from_wire(outcome.state)?,
        id: outcome.task_id,
        created: outcome.created,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_outcome_becomes_a_handle() {
        let outcome = v1::EnqueueOutcome {
            task_id: "t-1".into(),
            created: true,
            state: v1::TaskState::Ready as i32,
            error: None,
        };
        let handle = handle_from_outcome(outcome, None)
            .expect("well formed")
            .expect("accepted");
        assert_eq!(
            handle,
            TaskHandle {
                id: "t-1".into(),
                created: true,
                state: TaskState::Ready
            }
        );
    }

    #[test]
    fn a_refused_outcome_becomes_rejected_naming_the_requested_id() {
        let outcome = v1::EnqueueOutcome {
            error: Some(v1::Error {
                kind: "INVALID_ARGUMENT".into(),
                message: "priority must be in 0..=9; got 12".into(),
            }),
            ..v1::EnqueueOutcome::default()
        };
        let err = handle_from_outcome(outcome, Some("mine".into()))
            .expect("well formed")
            .expect_err("refused");
        assert!(
            matches!(&err, ClientError::Rejected { task_id: Some(id), kind, .. }
                if id == "mine" && kind == "INVALID_ARGUMENT"),
            "{err:?}"
        );
    }

    #[test]
    fn an_outcome_without_id_or_error_is_a_protocol_error() {
        let result = handle_from_outcome(v1::EnqueueOutcome::default(), None);
        assert!(
            matches!(result, Err(ClientError::Protocol(_))),
            "{result:?}"
        );
    }
}
