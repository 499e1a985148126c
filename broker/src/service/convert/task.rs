//! A task spec from the wire into a `NewTask` the engine takes.

use std::collections::BTreeMap;

use stalk_proto::v1 as pb;

use super::{at_most, delay_ms, in_range, lease_ms, name, task_id, unix_ms, FieldError};
use super::{
    MAX_BACKOFF_MS, MAX_CONTENT_TYPE, MAX_HEADERS, MAX_HEADER_NAME, MAX_HEADER_VALUE,
    MAX_LOST_ATTEMPTS, MAX_RETRIES, MAX_UNIQUE_KEY,
};
use crate::engine::{
    NewTask, TaskBody, TaskId, TaskOptions, When, DEFAULT_LEASE_MS, DEFAULT_MAX_LOST_ATTEMPTS,
    DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MAX_MS, DEFAULT_RETRY_BACKOFF_MS,
};

/// Checks and converts one task of an Enqueue. `id` is used when the spec names none.
pub(crate) fn new_task(
    i: usize,
    spec: pb::TaskSpec,
    max_payload: usize,
    now_ms: u64,
    generated_id: impl FnOnce() -> TaskId,
) -> Result<NewTask, FieldError> {
    task_at(
        &format!("tasks[{i}]"),
        spec,
        max_payload,
        now_ms,
        generated_id,
    )
}

/// As [`new_task`], for the task spec at `path` (e.g. `schedule.task`) in errors.
pub(crate) fn task_at(
    path: &str,
    mut spec: pb::TaskSpec,
    max_payload: usize,
    now_ms: u64,
    generated_id: impl FnOnce() -> TaskId,
) -> Result<NewTask, FieldError> {
    let f = |name: &str| format!("{path}.{name}");
    name(&f("name"), &spec.name)?;
    let queue = if spec.queue.is_empty() {
        "default".to_string()
    } else {
        name(&f("queue"), &spec.queue)?;
        std::mem::take(&mut spec.queue)
    };
    check_body(&f, &spec, max_payload)?;
    let priority = u8::try_from(spec.priority)
        .ok()
        .filter(|p| *p <= 9)
        .ok_or_else(|| {
            FieldError::invalid(f("priority"), format!("{} is outside 0..=9", spec.priority))
        })?;
    let id = if spec.task_id.is_empty() {
        generated_id()
    } else {
        task_id(&f("task_id"), &spec.task_id)?;
        TaskId::new(&spec.task_id)
    };
    let unique_key = if spec.unique_key.is_empty() {
        None
    } else {
        at_most(&f("unique_key"), spec.unique_key.len(), MAX_UNIQUE_KEY)?;
        Some(std::mem::take(&mut spec.unique_key))
    };
    let options = options(&f, &spec)?;
    let expires = at_or_in(
        &f,
        ("expires_at_unix_ms", spec.expires_at_unix_ms),
        ("expires_in_ms", spec.expires_in_ms),
        now_ms,
    )?;
    let eta = at_or_in(
        &f,
        ("eta_unix_ms", spec.eta_unix_ms),
        ("countdown_ms", spec.countdown_ms),
        now_ms,
    )?;
    Ok(NewTask {
        id,
        name: spec.name,
        queue,
        priority,
        unique_key,
        options,
        expires,
        eta,
        body: TaskBody {
            payload: spec.payload,
            content_type: spec.content_type,
            headers: spec.headers.into_iter().collect::<BTreeMap<_, _>>(),
            soft_time_limit_ms: spec.soft_time_limit_ms,
            time_limit_ms: spec.time_limit_ms,
            input: None,
        },
        flow: None,
    })
}

/// Checks the payload, its content type and the headers; `f` names a field of the spec.
fn check_body(
    f: &impl Fn(&str) -> String,
    spec: &pb::TaskSpec,
    max_payload: usize,
) -> Result<(), FieldError> {
    if spec.payload.len() > max_payload {
        return Err(FieldError::too_large(
            f("payload"),
            format!(
                "is {} bytes; the broker accepts at most {max_payload} (--max-payload-bytes)",
                spec.payload.len()
            ),
        ));
    }
    at_most(
        &f("content_type"),
        spec.content_type.len(),
        MAX_CONTENT_TYPE,
    )?;
    if spec.headers.len() > MAX_HEADERS {
        return Err(FieldError::invalid(
            f("headers"),
            format!(
                "has {} entries; at most {MAX_HEADERS} are allowed",
                spec.headers.len()
            ),
        ));
    }
    for (key, value) in &spec.headers {
        if key.is_empty() {
            return Err(FieldError::invalid(f("headers"), "a header key is empty"));
        }
        at_most(&f(&format!("headers[{key:?}]")), key.len(), MAX_HEADER_NAME)?;
        at_most(
            &f(&format!("headers[{key:?}]")),
            value.len(),
            MAX_HEADER_VALUE,
        )?;
    }
    Ok(())
}

/// Checks the retry, lease and time-limit options and fills in the defaults.
fn options(f: &impl Fn(&str) -> String, spec: &pb::TaskSpec) -> Result<TaskOptions, FieldError> {
    if spec.max_retries > MAX_RETRIES {
        return Err(FieldError::invalid(
            f("max_retries"),
            format!("{} is more than {MAX_RETRIES}", spec.max_retries),
        ));
    }
    let max_retries = match (spec.no_retries, spec.max_retries) {
        (true, _) => 0,
        (false, 0) => DEFAULT_MAX_RETRIES,
        (false, n) => n,
    };
    if spec.max_lost_attempts > MAX_LOST_ATTEMPTS {
        return Err(FieldError::invalid(
            f("max_lost_attempts"),
            format!(
                "{} is more than {MAX_LOST_ATTEMPTS}",
                spec.max_lost_attempts
            ),
        ));
    }
    // In range (checked below), so these fit u32.
    let or = |value: u64, default: u32| match value {
        0 => default,
        v => u32::try_from(v).unwrap_or(u32::MAX),
    };
    in_range(
        &f("retry_backoff_ms"),
        spec.retry_backoff_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    in_range(
        &f("retry_backoff_max_ms"),
        spec.retry_backoff_max_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    let lease = lease_ms(&f("lease_duration_ms"), spec.lease_duration_ms)?;
    in_range(
        &f("soft_time_limit_ms"),
        spec.soft_time_limit_ms,
        (0, MAX_BACKOFF_MS),
    )?;
    in_range(&f("time_limit_ms"), spec.time_limit_ms, (0, MAX_BACKOFF_MS))?;
    Ok(TaskOptions {
        max_retries,
        retry_backoff_ms: or(spec.retry_backoff_ms, DEFAULT_RETRY_BACKOFF_MS),
        retry_backoff_max_ms: or(spec.retry_backoff_max_ms, DEFAULT_RETRY_BACKOFF_MAX_MS),
        lease_ms: lease.map_or(DEFAULT_LEASE_MS, |ms| u32::try_from(ms).unwrap_or(u32::MAX)),
        max_lost_attempts: match spec.max_lost_attempts {
            0 => DEFAULT_MAX_LOST_ATTEMPTS,
            n => n,
        },
    })
}

/// A time given as an absolute unix-ms field or a relative ms field, at most one of them.
fn at_or_in(
    f: &impl Fn(&str) -> String,
    (at_field, at): (&str, i64),
    (in_field, delay): (&str, u64),
    now_ms: u64,
) -> Result<Option<When>, FieldError> {
    match (unix_ms(&f(at_field), at, now_ms)?, delay) {
        (Some(_), n) if n > 0 => Err(FieldError::invalid(
            f(in_field),
            format!("give {at_field} or {in_field}, not both"),
        )),
        (Some(at), _) => Ok(Some(When::At(at))),
        (None, 0) => Ok(None),
        (None, n) => Ok(Some(When::In(delay_ms(&f(in_field), n)?))),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::service::convert::MAX_DELAY_MS;

    /// The broker's time in these tests: any fixed instant, never the date of the run.
    const NOW: u64 = 1_700_000_000_000;

    fn gen() -> TaskId {
        TaskId::new("generated")
    }

    fn spec(name: &str) -> pb::TaskSpec {
        pb::TaskSpec {
            name: name.into(),
            ..pb::TaskSpec::default()
        }
    }

    #[test]
    fn defaults_fill_in_queue_retries_and_lease() {
        let task = new_task(0, spec("email.send"), 1024, NOW, || TaskId::new("gen")).unwrap();
        assert_eq!(task.queue, "default");
        assert_eq!(task.id.to_string(), "gen");
        assert_eq!(task.options.max_retries, DEFAULT_MAX_RETRIES);
        assert_eq!(task.options.lease_ms, DEFAULT_LEASE_MS);
    }

    #[test]
    fn refusals_name_the_field() {
        let err = new_task(3, spec("bad name"), 1024, NOW, gen).unwrap_err();
        assert_eq!(err.field, "tasks[3].name");
        let mut s = spec("ok");
        s.priority = 10;
        assert_eq!(
            new_task(0, s, 1024, NOW, gen).unwrap_err().field,
            "tasks[0].priority"
        );
        let mut s = spec("ok");
        s.payload = vec![0; 2048].into();
        let err = new_task(0, s, 1024, NOW, gen).unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        let mut s = spec("ok");
        s.eta_unix_ms = 5;
        s.countdown_ms = 5;
        assert_eq!(
            new_task(0, s, 1024, NOW, gen).unwrap_err().field,
            "tasks[0].countdown_ms"
        );
        let mut s = spec("ok");
        s.eta_unix_ms = -1;
        assert_eq!(
            new_task(0, s, 1024, NOW, gen).unwrap_err().field,
            "tasks[0].eta_unix_ms"
        );
    }

    /// Sets one time field of a spec: to the absolute time or to the delay, as the field takes.
    type SetWhen = fn(&mut pb::TaskSpec, i64, u64);

    /// Issue 12, §3: `eta_unix_ms` of i64::MAX was accepted while `countdown_ms` was capped at
    /// 366 days; every way of saying when now has that one bound, measured from the broker's time.
    #[test]
    fn every_way_of_saying_when_has_one_bound() {
        let latest = NOW + MAX_DELAY_MS;
        let at = |v: u64| i64::try_from(v).unwrap();
        let cases: [(&str, SetWhen); 4] = [
            ("eta_unix_ms", |s, at, _| s.eta_unix_ms = at),
            ("countdown_ms", |s, _, d| s.countdown_ms = d),
            ("expires_at_unix_ms", |s, at, _| s.expires_at_unix_ms = at),
            ("expires_in_ms", |s, _, d| s.expires_in_ms = d),
        ];
        for (field, set) in cases {
            let mut ok = spec("ok");
            set(&mut ok, at(latest), MAX_DELAY_MS);
            assert!(
                new_task(0, ok, 1024, NOW, gen).is_ok(),
                "{field} at the bound"
            );
            for (absolute, delay) in [(at(latest + 1), MAX_DELAY_MS + 1), (i64::MAX, u64::MAX)] {
                let mut over = spec("ok");
                set(&mut over, absolute, delay);
                let err = new_task(0, over, 1024, NOW, gen).unwrap_err();
                assert_eq!(err.field, format!("tasks[0].{field}"));
                assert_eq!(err.code, Code::InvalidArgument);
            }
        }
    }

    proptest::proptest! {
        /// Whatever a client sends, checking it answers Ok or a field error; it never panics.
        #[test]
        fn any_task_spec_is_accepted_or_refused_never_panics(
            name in ".{0,260}",
            queue in ".{0,260}",
            task_id in ".{0,140}",
            priority in proptest::num::u32::ANY,
            max_retries in proptest::num::u32::ANY,
            lease in proptest::num::u64::ANY,
            backoff in proptest::num::u64::ANY,
            eta in proptest::num::i64::ANY,
            countdown in proptest::num::u64::ANY,
            expires_at in proptest::num::i64::ANY,
            expires_in in proptest::num::u64::ANY,
            payload_len in 0usize..3000,
        ) {
            let spec = pb::TaskSpec {
                name,
                queue,
                task_id,
                priority,
                max_retries,
                lease_duration_ms: lease,
                retry_backoff_ms: backoff,
                retry_backoff_max_ms: backoff,
                eta_unix_ms: eta,
                countdown_ms: countdown,
                expires_at_unix_ms: expires_at,
                expires_in_ms: expires_in,
                payload: vec![0; payload_len].into(),
                ..pb::TaskSpec::default()
            };
            if let Err(err) = new_task(0, spec, 2048, NOW, || TaskId::new("generated")) {
                proptest::prop_assert!(err.field.starts_with("tasks[0]."), "{err:?}");
                proptest::prop_assert!(!err.message.is_empty());
            }
        }
    }

    #[test]
    fn no_retries_overrides_the_default() {
        let mut s = spec("ok");
        s.no_retries = true;
        assert_eq!(
            new_task(0, s, 1024, NOW, gen).unwrap().options.max_retries,
            0
        );
    }
}
