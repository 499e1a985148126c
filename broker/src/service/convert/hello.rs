//! A worker's `hello` into the options of its session.

use stalk_proto::v1 as pb;

use super::FieldError;
use crate::config::SessionGrace;
use crate::sessions::SessionOptions;

/// Default prefetch lease of a pushed task that has not started.
const PREFETCH_MS: u64 = 10_000;

/// The session a `hello` asks for, every field checked.
pub(crate) fn session_options(
    hello: &pb::Hello,
    grace: SessionGrace,
) -> Result<SessionOptions, FieldError> {
    if hello.worker_id.is_empty() || hello.worker_id.len() > 256 {
        return Err(FieldError::invalid(
            "hello.worker_id",
            "is required, at most 256 bytes",
        ));
    }
    super::lease_queues(&hello.queues)?;
    let at_most = |field: &str, value: &str, max: usize| {
        if value.len() > max {
            return Err(FieldError::invalid(
                field,
                format!("is longer than {max} bytes"),
            ));
        }
        Ok(())
    };
    at_most("hello.hostname", &hello.hostname, 256)?;
    at_most("hello.sdk_version", &hello.sdk_version, 128)?;
    if hello.task_names.len() > 1000 {
        return Err(FieldError::invalid(
            "hello.task_names",
            "names more than 1000 tasks",
        ));
    }
    Ok(SessionOptions {
        worker_id: hello.worker_id.clone(),
        hostname: hello.hostname.clone(),
        pid: hello.pid,
        task_names: hello.task_names.clone(),
        sdk_version: hello.sdk_version.clone(),
        grace,
        queues: hello.queues.clone(),
        run_lease_ms: super::lease_ms("hello.lease_duration_ms", hello.lease_duration_ms)?,
        prefetch_ms: super::lease_ms("hello.prefetch_lease_ms", hello.prefetch_lease_ms)?
            .unwrap_or(PREFETCH_MS),
    })
}
