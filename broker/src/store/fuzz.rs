//! Property-based fuzzing of the record decoders (issue 12, §3): whatever bytes a data dir holds,
//! decoding answers a record or a `Corrupt` / `UnknownRecordVersion` error naming the key; it never
//! panics. Runs in the normal test suite, in bounded time.

use bytes::Bytes;
use proptest::prelude::*;

use super::keys::decode_task_key;
use super::limit_records::decode_limit;
use super::records::{decode_body, decode_state, V1};
use super::revocation_records::decode_revocation;
use super::schedule_records::decode_schedule;
use super::StoreError;
use crate::fuzz_input;

/// A decoder's refusal must say the data is bad and which key holds it.
fn refused_as_bad_data(err: &StoreError, at: &[u8]) -> bool {
    match err {
        StoreError::Corrupt { key, .. } | StoreError::UnknownRecordVersion { key, .. } => key == at,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_record_bytes_decode_or_are_refused_as_corrupt(bytes in fuzz_input::record(V1)) {
        let key = b"fuzzed-key";
        let refusals = [
            decode_state(key, &bytes).err(),
            decode_body(key, Bytes::from(bytes.clone())).err(),
            decode_schedule(key, &bytes).err(),
            decode_limit(key, &bytes).err(),
            decode_revocation(key, &bytes).err(),
        ];
        for err in refusals.iter().flatten() {
            prop_assert!(refused_as_bad_data(err, key), "{err:?}");
        }
        if let Some(&kind) = bytes.first() {
            let _ = decode_task_key(kind, &bytes);
        }
    }
}
