//! Orders steps so each starts after what it requires; a cycle or a missing requirement is a
//! startup error that names the steps.

use std::collections::HashMap;

use super::names::{NAMES, SESSION};
use super::step::Step;

/// Orders `steps` (given in registration order, which breaks ties). `satisfied` names steps that
/// count as present without being in the list (the built-ins, in a prefork child).
///
/// # Errors
/// A message naming the duplicate, the missing requirement, or the cycle.
pub(crate) fn order(
    steps: Vec<Box<dyn Step>>,
    satisfied: &[&str],
) -> Result<Vec<Box<dyn Step>>, String> {
    let names: Vec<String> = steps.iter().map(|s| s.name().to_string()).collect();
    let mut index = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if index.insert(name.clone(), i).is_some() {
            return Err(format!("two steps are named {name:?}"));
        }
    }
    let session_needs = implicit_session_requirements(&steps, &names, &index);
    let mut requires: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let mut needs = Vec::new();
        for name in step.requires() {
            match index.get(&name) {
                Some(&j) => needs.push(j),
                None if satisfied.contains(&name.as_str()) => {}
                None => {
                    return Err(format!(
                        "step {:?} requires {name:?}, which no step provides (steps: {})",
                        names[i],
                        names.join(", ")
                    ))
                }
            }
        }
        if names[i] == SESSION {
            needs.extend(session_needs.iter().copied());
        }
        requires.push(needs);
    }
    // Depth-first, in registration order; `path` holds the steps being visited, for the cycle.
    let mut state = vec![Visit::New; steps.len()];
    let mut sorted = Vec::with_capacity(steps.len());
    let mut path = Vec::new();
    for i in 0..steps.len() {
        visit(i, &requires, &names, &mut state, &mut path, &mut sorted)?;
    }
    let mut slots: Vec<Option<Box<dyn Step>>> = steps.into_iter().map(Some).collect();
    Ok(sorted.into_iter().filter_map(|i| slots[i].take()).collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    Active,
    Done,
}

fn visit(
    i: usize,
    requires: &[Vec<usize>],
    names: &[String],
    state: &mut [Visit],
    path: &mut Vec<usize>,
    sorted: &mut Vec<usize>,
) -> Result<(), String> {
    match state[i] {
        Visit::Done => return Ok(()),
        Visit::Active => {
            let start = path.iter().position(|&p| p == i).unwrap_or(0);
            let cycle: Vec<&str> = path[start..]
                .iter()
                .chain(std::iter::once(&i))
                .map(|&p| names[p].as_str())
                .collect();
            return Err(format!(
                "the steps require each other in a cycle: {}",
                cycle.join(" -> ")
            ));
        }
        Visit::New => {}
    }
    state[i] = Visit::Active;
    path.push(i);
    for &j in &requires[i] {
        visit(j, requires, names, state, path, sorted)?;
    }
    path.pop();
    state[i] = Visit::Done;
    sorted.push(i);
    Ok(())
}

/// User steps that do not depend on the session, directly or not: the session starts after
/// them, so what they provide is ready before the first task.
fn implicit_session_requirements(
    steps: &[Box<dyn Step>],
    names: &[String],
    index: &HashMap<String, usize>,
) -> Vec<usize> {
    let Some(&session) = index.get(SESSION) else {
        return Vec::new();
    };
    let builtin = |name: &str| NAMES.contains(&name);
    let depends_on_session = |start: usize| {
        let mut seen = vec![false; steps.len()];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if i == session {
                return true;
            }
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(
                steps[i]
                    .requires()
                    .iter()
                    .filter_map(|n| index.get(n).copied()),
            );
        }
        false
    };
    (0..steps.len())
        .filter(|&i| !builtin(&names[i]) && !depends_on_session(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StepError;
    use crate::steps::step::StepContext;

    struct Named(&'static str, Vec<&'static str>);

    #[async_trait::async_trait]
    impl Step for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn requires(&self) -> Vec<String> {
            self.1.iter().map(|s| (*s).to_string()).collect()
        }
        async fn start(&mut self, _ctx: &mut StepContext) -> Result<(), StepError> {
            Ok(())
        }
    }

    fn names(steps: &[Box<dyn Step>]) -> Vec<&str> {
        steps.iter().map(|s| s.name()).collect()
    }

    fn step(name: &'static str, requires: &[&'static str]) -> Box<dyn Step> {
        Box::new(Named(name, requires.to_vec()))
    }

    #[test]
    fn requirements_start_first_and_ties_keep_registration_order() {
        let steps = vec![
            step("c", &["b"]),
            step("a", &[]),
            step("b", &["a"]),
            step("d", &[]),
        ];
        assert_eq!(names(&order(steps, &[]).unwrap()), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_cycle_is_named_step_by_step() {
        let steps = vec![step("a", &["b"]), step("b", &["c"]), step("c", &["a"])];
        let err = order(steps, &[]).err().unwrap();
        assert!(err.contains("a -> b -> c -> a"), "{err}");
    }

    #[test]
    fn a_missing_requirement_and_a_duplicate_are_named() {
        let err = order(vec![step("a", &["db"])], &[]).err().unwrap();
        assert!(err.contains("step \"a\" requires \"db\""), "{err}");
        assert!(order(vec![step("a", &["db"])], &["db"]).is_ok());
        let err = order(vec![step("a", &[]), step("a", &[])], &[])
            .err()
            .unwrap();
        assert!(err.contains("two steps are named \"a\""), "{err}");
    }

    #[test]
    fn the_session_starts_after_user_steps_that_do_not_need_it() {
        let steps = vec![
            step(SESSION, &[]),
            step("metrics", &[SESSION]),
            step("db", &[]),
        ];
        assert_eq!(
            names(&order(steps, &[]).unwrap()),
            ["db", SESSION, "metrics"]
        );
    }
}
