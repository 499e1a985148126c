//! Fuzzed text through the shared duration parser; see `stalk_broker::fuzzing::duration_syntax`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| stalk_broker::fuzzing::duration_syntax(input));
