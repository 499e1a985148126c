//! Every store record decoder on a fuzzed sled entry; see `stalk_broker::fuzzing::record_decoders`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| stalk_broker::fuzzing::record_decoders(input));
