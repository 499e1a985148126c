//! The invariant checks behind the cargo-fuzz targets in `fuzz/` (issue 12, §3). Each takes
//! arbitrary bytes and panics if, and only if, the broker breaks a promise on them; a fuzz target
//! is then one line. The proptests, and a test that replays every committed seed in
//! `fuzz/corpus/` and `fuzz/artifacts/`, run the same functions in the normal test suite.
//!
//! Only with the `fuzzing` feature; not an API.

use stalk_proto::duration::{format_duration, parse_duration};

/// Decodes `input` with every store record decoder (state, body, schedule, limit, revocation and
/// task keys). Its first byte is the key's length, then comes the key, then the record, so the
/// key-dependent decoders (revocations) are fuzzed too.
///
/// # Panics
/// When a decoder panics, or refuses the record with anything but `Corrupt` or
/// `UnknownRecordVersion` naming the key.
pub fn record_decoders(input: &[u8]) {
    crate::store::fuzz::record_decoders(input);
}

/// Decodes `input` as each gRPC request type with prost and runs the service's checks and
/// conversions on it, at broker times from the epoch to `u64::MAX`.
///
/// # Panics
/// When a conversion panics, refuses without naming the field and what is wrong, or accepts a
/// time more than a year after the broker's time or a schedule whose next slot is not ahead.
pub fn request_conversions(input: &[u8]) {
    crate::service::fuzz::request_conversions(input);
}

/// Parses `input` (lossily as UTF-8) as a duration in the syntax every stalk binary shares.
///
/// # Panics
/// When parsing panics, when an accepted duration, written back, does not parse to itself, or when
/// a refusal does not name the input.
pub fn duration_syntax(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    match parse_duration(&text) {
        Ok(duration) => {
            let written = format_duration(duration);
            assert_eq!(
                parse_duration(&written),
                Ok(duration),
                "{text:?} was read as {duration:?} and written as {written:?}"
            );
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.contains(&format!("'{text}'")), "{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::*;

    /// A check a cargo-fuzz target runs.
    type Check = fn(&[u8]);

    /// The cargo-fuzz targets and their checks, by target name.
    const TARGETS: [(&str, Check); 3] = [
        ("record_decoders", record_decoders),
        ("request_conversions", request_conversions),
        ("duration_syntax", duration_syntax),
    ];

    /// Set to rewrite the generated seeds in `fuzz/corpus/` instead of checking them.
    const WRITE_SEEDS: &str = "STALK_WRITE_FUZZ_SEEDS";

    fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz")
            .join(kind)
            .join(target)
    }

    /// The seeds the generators write, by target and file name.
    fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        let durations = [
            ("units", "500ms"),
            ("sum", "1h30m"),
            ("sum-spaced", "1d 2h 3m 4s 5ms"),
            ("bare-seconds", " 30 "),
            ("fraction", "1.5s"),
            ("negative", "-1s"),
            ("too-large", "99999999999999999999d"),
            ("unknown-unit", "5min"),
        ];
        let records = crate::store::fuzz::seeds::all()
            .into_iter()
            .map(|(name, bytes)| ("record_decoders", name, bytes));
        let requests = crate::service::fuzz::seeds::all()
            .into_iter()
            .map(|(name, bytes)| ("request_conversions", name, bytes));
        let durations = durations
            .into_iter()
            .map(|(name, text)| ("duration_syntax", name, text.as_bytes().to_vec()));
        records.chain(requests).chain(durations).collect()
    }

    #[test]
    fn the_committed_seeds_are_what_the_generators_write() {
        let write = std::env::var_os(WRITE_SEEDS).is_some();
        for (target, name, bytes) in seeds() {
            let path = fuzz_dir("corpus", target).join(name);
            if write {
                std::fs::create_dir_all(fuzz_dir("corpus", target)).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            } else {
                assert!(
                    std::fs::read(&path).is_ok_and(|committed| committed == bytes),
                    "{} is not what its generator writes; if the encoding changed on purpose, run \
                     `{WRITE_SEEDS}=1 cargo nextest run -p stalk-broker committed_seeds` and \
                     commit the result",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn every_committed_seed_and_artifact_passes_its_check() {
        for (target, check) in TARGETS {
            let mut replayed = 0;
            for dir in [fuzz_dir("corpus", target), fuzz_dir("artifacts", target)] {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    std::panic::catch_unwind(|| check(&bytes)).unwrap_or_else(|_| {
                        panic!(
                            "{} fails the {target} check (see the panic above)",
                            path.display()
                        )
                    });
                    replayed += 1;
                }
            }
            assert!(replayed > 0, "fuzz/corpus/{target} holds no seeds");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn any_duration_text_parses_back_or_is_refused_by_name(text in "[0-9a-z .,-]{0,24}") {
            duration_syntax(text.as_bytes());
        }
    }
}
