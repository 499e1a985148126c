//! The series of each task name, registered on first use and kept, and the cap on how many
//! names get a `task` label of their own.

use std::collections::HashMap;

use metrics::{Counter, Histogram, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::{metadata, Outcome, TASKS, TASK_RUNTIME};

/// How many distinct task names get a `task` label of their own. Names are chosen by whoever
/// enqueues (an unknown one is still counted, as `rejected`), and each name costs a histogram
/// and up to nine counters in every scrape; past this many, names share [`OTHER`].
pub(crate) const TASK_LABEL_CAP: usize = 256;

/// The `task` label of every name past the cap.
pub(crate) const OTHER: &str = "_other";

/// One `task` label's handles, each registered the first time it records.
#[derive(Debug, Default)]
struct Handles {
    runtime: Option<Histogram>,
    /// By [`Outcome::ALL`] position.
    outcomes: [Option<Counter>; Outcome::ALL.len()],
}

/// Handles by task name, at most `cap` names; the rest share [`OTHER`]'s.
#[derive(Debug)]
pub(crate) struct TaskSeries {
    cap: usize,
    by_name: HashMap<String, Handles>,
    other: Handles,
}

impl TaskSeries {
    /// No names yet; at most `cap` will get a label of their own.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            by_name: HashMap::new(),
            other: Handles::default(),
        }
    }

    /// Gives `name` a label of its own while the cap allows; whether it has one.
    pub(crate) fn admit(&mut self, name: &str) -> bool {
        if self.by_name.contains_key(name) {
            return true;
        }
        if self.by_name.len() >= self.cap {
            return false;
        }
        self.by_name.insert(name.to_owned(), Handles::default());
        true
    }

    /// The histogram of `name`'s runtimes.
    pub(crate) fn runtime(&mut self, recorder: &PrometheusRecorder, name: &str) -> &Histogram {
        let (own, handles) = self.handles(name);
        let label = if own { name } else { OTHER };
        handles.runtime.get_or_insert_with(|| {
            let key = Key::from_parts(TASK_RUNTIME, vec![Label::new("task", label.to_owned())]);
            recorder.register_histogram(&key, &metadata())
        })
    }

    /// The counter of `name`'s tasks that ended with `outcome`.
    pub(crate) fn outcome(
        &mut self,
        recorder: &PrometheusRecorder,
        name: &str,
        outcome: Outcome,
    ) -> &Counter {
        let (own, handles) = self.handles(name);
        let label = if own { name } else { OTHER };
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .expect("invariant: Outcome::ALL lists every outcome");
        handles.outcomes[i].get_or_insert_with(|| {
            let labels = vec![
                Label::new("task", label.to_owned()),
                Label::new("outcome", outcome.as_str()),
            ];
            recorder.register_counter(&Key::from_parts(TASKS, labels), &metadata())
        })
    }

    /// The handles `name` records into, and whether they are its own (else [`OTHER`]'s: it
    /// came past the cap).
    fn handles(&mut self, name: &str) -> (bool, &mut Handles) {
        if self.admit(name) {
            let handles = self
                .by_name
                .get_mut(name)
                .expect("invariant: admitted names are kept");
            (true, handles)
        } else {
            (false, &mut self.other)
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn names_past_the_cap_share_the_other_label_and_registered_names_come_first() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let mut series = TaskSeries::new(2);
        // As the worker does at start: its own task names take the first labels.
        series.admit("registered");
        for name in [
            "registered",
            "unknown-1",
            "unknown-2",
            "unknown-3",
            "unknown-1",
        ] {
            series
                .outcome(&recorder, name, Outcome::Rejected)
                .increment(1);
        }
        let text = recorder.handle().render();
        let count = |task: &str| {
            let series =
                format!("stalk_worker_tasks_total{{task=\"{task}\",outcome=\"rejected\"}} ");
            text.lines()
                .find_map(|line| line.strip_prefix(series.as_str()))
                .map(|n| n.to_string())
        };
        assert_eq!(count("registered").as_deref(), Some("1"), "{text}");
        assert_eq!(count("unknown-1").as_deref(), Some("2"), "{text}");
        assert_eq!(
            count("_other").as_deref(),
            Some("2"),
            "unknown-2 and unknown-3 came past the cap: {text}"
        );
        assert_eq!(count("unknown-2"), None, "{text}");
        assert_eq!(series.by_name.len(), 2, "the cap bounds the names kept");
    }
}
