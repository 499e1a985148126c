//! Fuzzed bytes as each gRPC request, through the service's checks and conversions; see
//! `stalk_broker::fuzzing::request_conversions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| stalk_broker::fuzzing::request_conversions(input));
