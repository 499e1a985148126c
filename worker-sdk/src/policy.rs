//! Which failures are worth a retry, by error kind (Celery's `autoretry_for` and
//! `dont_autoretry_for`).

use std::collections::HashSet;

use crate::error::TaskError;

/// Decides whether a retryable failure really retries. Fatal errors never retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    only: Option<HashSet<String>>,
    never: HashSet<String>,
}

impl RetryPolicy {
    /// Retry only failures of these kinds; others fail at once.
    pub fn only<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(kinds.into_iter().map(Into::into).collect());
        self
    }

    /// Never retry failures of these kinds.
    pub fn never<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.never.extend(kinds.into_iter().map(Into::into));
        self
    }

    /// The failure as the policy sees it: a retryable error of a kind the policy does not retry
    /// becomes fatal.
    pub fn apply(&self, error: TaskError) -> TaskError {
        match error {
            TaskError::Retry { kind, message, .. }
                if self.never.contains(&kind)
                    || self.only.as_ref().is_some_and(|only| !only.contains(&kind)) =>
            {
                TaskError::Fatal { kind, message }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_and_only_turn_retries_fatal() {
        let policy = RetryPolicy::default()
            .only(["IOError", "ValueError"])
            .never(["ValueError"]);
        let io = policy.apply(TaskError::retry("IOError", "x"));
        assert!(matches!(io, TaskError::Retry { .. }), "{io:?}");
        for kind in ["ValueError", "KeyError"] {
            let other = policy.apply(TaskError::retry(kind, "x"));
            assert!(
                matches!(other, TaskError::Fatal { .. }),
                "{kind}: {other:?}"
            );
        }
        let fatal = policy.apply(TaskError::fatal("IOError", "x"));
        assert!(
            matches!(fatal, TaskError::Fatal { .. }),
            "fatal stays fatal"
        );
    }

    #[test]
    fn the_default_policy_retries_every_retryable_error() {
        let kept = RetryPolicy::default().apply(TaskError::retry("Anything", "x"));
        assert!(matches!(kept, TaskError::Retry { .. }));
    }
}
