//! A revoke request checked into the engine's form, and what a revoke did in wire form.

use stalk_proto::v1 as pb;

use super::{at_most, in_range, task_id, FieldError, MAX_BATCH, MAX_HEADER_NAME, MAX_HEADER_VALUE};
use crate::engine::{Revocation, RevokeReport};

/// Default time unknown ids and header values are remembered (Celery's revoke expiry).
const REMEMBER_MS: u64 = 3 * 3_600_000;
/// Longest time they may be remembered.
const MAX_REMEMBER_MS: u64 = 30 * 86_400_000;
/// Most header values per revoke.
const MAX_REVOKE_HEADERS: usize = 100;
/// Most tasks revoked for their headers that a reply lists.
const MAX_MATCHED_LISTED: usize = 1000;

/// A checked revoke: ids, header values, how long to remember them.
pub(crate) type RevokeArgs = (Vec<String>, Vec<(String, String)>, u64);

/// Checks a revoke request.
pub(crate) fn revoke_request(req: pb::RevokeRequest) -> Result<RevokeArgs, FieldError> {
    if req.task_ids.is_empty() && req.headers.is_empty() {
        return Err(FieldError::invalid(
            "task_ids",
            "name at least one task id or header value to revoke",
        ));
    }
    if req.task_ids.len() > MAX_BATCH {
        return Err(FieldError::invalid(
            "task_ids",
            format!(
                "holds {} ids; at most {MAX_BATCH} are allowed per call",
                req.task_ids.len()
            ),
        ));
    }
    for (i, id) in req.task_ids.iter().enumerate() {
        task_id(&format!("task_ids[{i}]"), id)?;
    }
    if req.headers.len() > MAX_REVOKE_HEADERS {
        return Err(FieldError::invalid(
            "headers",
            format!(
                "holds {} values; at most {MAX_REVOKE_HEADERS} are allowed",
                req.headers.len()
            ),
        ));
    }
    let headers = req
        .headers
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            if h.name.is_empty() {
                return Err(FieldError::invalid(
                    format!("headers[{i}].name"),
                    "must not be empty",
                ));
            }
            at_most(&format!("headers[{i}].name"), h.name.len(), MAX_HEADER_NAME)?;
            at_most(
                &format!("headers[{i}].value"),
                h.value.len(),
                MAX_HEADER_VALUE,
            )?;
            Ok((h.name, h.value))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let remember_ms = match req.remember_ms {
        0 => REMEMBER_MS,
        ms => {
            in_range("remember_ms", ms, (1, MAX_REMEMBER_MS))?;
            ms
        }
    };
    Ok((req.task_ids, headers, remember_ms))
}

/// The wire form of a revoke's report.
pub(crate) fn revoke_response(report: RevokeReport) -> pb::RevokeResponse {
    let outcome = |task_id: String, what: Revocation| {
        let (state, was) = revocation(what);
        pb::RevokeOutcome {
            task_id,
            state: state.into(),
            was: was.into(),
        }
    };
    let matched_count = u64::try_from(report.matched.len()).unwrap_or(u64::MAX);
    pb::RevokeResponse {
        outcomes: report
            .ids
            .into_iter()
            .map(|(id, what)| outcome(id, what))
            .collect(),
        matched: report
            .matched
            .into_iter()
            .take(MAX_MATCHED_LISTED)
            .map(|(id, what)| outcome(id.to_string(), what))
            .collect(),
        matched_count,
    }
}

/// The wire form of what a revoke did: (state after, what the task was doing).
fn revocation(what: Revocation) -> (pb::TaskState, pb::RevokedWhile) {
    match what {
        Revocation::Waiting => (pb::TaskState::Revoked, pb::RevokedWhile::Waiting),
        Revocation::Prefetched => (pb::TaskState::Revoked, pb::RevokedWhile::Prefetched),
        Revocation::Running => (pb::TaskState::Revoked, pb::RevokedWhile::Running),
        Revocation::Finished(s) => (super::state(s), pb::RevokedWhile::Finished),
        Revocation::Unknown => (pb::TaskState::Unknown, pb::RevokedWhile::Unknown),
    }
}
