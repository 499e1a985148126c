//! Property-based fuzzing of the request conversions (issue 12, §3): any bytes that prost decodes
//! as a request are converted or refused with a named field and a message, at any broker time;
//! they never panic. Runs in the normal test suite, in bounded time.

use proptest::prelude::*;
use prost::Message;
use stalk_proto::v1 as pb;

use super::{ack_item, lease_ms, lease_queues, nack_action, new_task, revoke_request, wait_ms};
use super::{FieldError, MAX_DELAY_MS};
use crate::engine::{NackAction, TaskId, When};
use crate::fuzz_input;

/// A refusal names a field and says what is wrong.
fn explained<T>(converted: Result<T, FieldError>) -> Result<(), TestCaseError> {
    if let Err(err) = converted {
        prop_assert!(!err.field.is_empty(), "{err:?}");
        prop_assert!(!err.message.is_empty(), "{err:?}");
    }
    Ok(())
}

/// An accepted time is at most [`MAX_DELAY_MS`] after the broker's time, however it was said.
fn bounded(when: Option<When>, now_ms: u64) -> Result<(), TestCaseError> {
    let latest = now_ms.saturating_add(MAX_DELAY_MS);
    if let Some(when) = when {
        prop_assert!(when.resolve(now_ms) <= latest, "{when:?} is past {latest}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_request_bytes_convert_or_are_refused_with_the_field_named(
        bytes in fuzz_input::protobufish(),
        now_ms in prop_oneof![Just(1_700_000_000_000u64), Just(u64::MAX), any::<u64>()],
    ) {
        // The bytes as a whole request, and as fields over a valid task (prost merges them), so
        // most specs get past the name check to the times and options behind it.
        let valid = pb::TaskSpec { name: "fuzz".into(), ..pb::TaskSpec::default() };
        let mut over_valid = Vec::new();
        prost::encoding::bytes::encode(1, &[valid.encode_to_vec(), bytes.clone()].concat(), &mut over_valid);
        for request in [&bytes, &over_valid] {
            let Ok(req) = pb::EnqueueRequest::decode(request.as_slice()) else {
                continue;
            };
            for (i, spec) in req.tasks.into_iter().enumerate() {
                match new_task(i, spec, 1024, now_ms, || TaskId::new("generated")) {
                    Ok(task) => {
                        bounded(task.eta, now_ms)?;
                        bounded(task.expires, now_ms)?;
                    }
                    refused => explained(refused)?,
                }
            }
        }
        if let Ok(req) = pb::AckRequest::decode(bytes.as_slice()) {
            explained(ack_item(req, 1024, now_ms))?;
        }
        let requeue = pb::Requeue::decode(bytes.as_slice()).ok().map(pb::nack_request::Action::Requeue);
        let nack = pb::NackRequest::decode(bytes.as_slice()).ok().and_then(|req| req.action);
        for action in [requeue, nack].into_iter().flatten() {
            match nack_action("", Some(action), now_ms) {
                Ok(NackAction::Requeue { at }) => bounded(Some(at), now_ms)?,
                other => explained(other)?,
            }
        }
        if let Ok(req) = pb::RevokeRequest::decode(bytes.as_slice()) {
            explained(revoke_request(req))?;
        }
        if let Ok(req) = pb::LeaseRequest::decode(bytes.as_slice()) {
            explained(lease_queues(&req.queues))?;
            explained(wait_ms("wait_ms", req.wait_ms))?;
            explained(lease_ms("lease_duration_ms", req.lease_duration_ms))?;
        }
    }
}
