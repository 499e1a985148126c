//! Parsers for flag values: durations, points in time, `key=value` headers, JSON payloads.
//! Each returns a message clap shows as a usage error (exit code 2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DURATION_FORMS: &str = "use a number with a unit, e.g. 500ms, 10s, 5m, 1h, 2d or 1h30m \
                              (a plain number is seconds)";

/// Parses "500ms", "10s", "5m", "1h", "2d", sums of those ("1h30m"), or plain seconds ("30").
pub(crate) fn parse_duration(input: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration '{input}': {why}; {DURATION_FORMS}");
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    if text.starts_with('-') {
        return Err(invalid("a duration cannot be negative"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text
            .parse::<u64>()
            .map_err(|_| invalid("it is too large"))?;
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid("a unit must follow a number"));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        let n = number
            .parse::<u64>()
            .map_err(|_| invalid("it is too large"))?;
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3_600).map(Duration::from_secs),
            "d" => n.checked_mul(86_400).map(Duration::from_secs),
            "" => return Err(invalid("only a lone number may omit its unit")),
            _ => return Err(invalid(&format!("unknown unit '{unit}'"))),
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| invalid("it is too large"))?;
    }
    Ok(total)
}

/// Parses a duration as [`parse_duration`] does, refusing zero: for a flag where zero would
/// silently mean "not set" (the wire's 0), such as `--expires-in`.
pub(crate) fn parse_positive_duration(input: &str) -> Result<Duration, String> {
    match parse_duration(input)? {
        Duration::ZERO => Err(format!(
            "invalid duration '{input}': it must be more than zero; {DURATION_FORMS}"
        )),
        positive => Ok(positive),
    }
}

/// Parses an RFC 3339 time ("2030-01-02T03:04:05Z", "…+02:00", fractional seconds allowed)
/// or milliseconds since the Unix epoch ("1893459845000").
pub(crate) fn parse_time(input: &str) -> Result<SystemTime, String> {
    let invalid = |why: &str| {
        format!(
            "invalid time '{input}': {why}; use RFC 3339 (e.g. 2030-01-02T03:04:05Z or \
             2030-01-02T05:04:05+02:00) or milliseconds since the Unix epoch"
        )
    };
    let text = input.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms = text
            .parse::<u64>()
            .map_err(|_| invalid("it is too large"))?;
        return UNIX_EPOCH
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(|| invalid("it is too large"));
    }
    let (local, offset) = split_utc_offset(text).map_err(invalid)?;
    // humantime reads UTC times only ("Z" or no zone), so a numeric offset is applied here.
    let utc_as_local = humantime::parse_rfc3339_weak(local).map_err(|e| invalid(&e.to_string()))?;
    let shifted = if offset >= 0 {
        utc_as_local.checked_sub(Duration::from_secs(offset.unsigned_abs()))
    } else {
        utc_as_local.checked_add(Duration::from_secs(offset.unsigned_abs()))
    };
    shifted.ok_or_else(|| invalid("it is out of range"))
}

/// Splits a trailing `+hh:mm` / `-hh:mm` offset off an RFC 3339 time; returns the rest and the
/// offset in seconds east of UTC (0 when the time ends in `Z` or has no zone).
fn split_utc_offset(text: &str) -> Result<(&str, i64), &'static str> {
    // The date part "YYYY-MM-DD" holds '-' too, so an offset can only start after it.
    const DATE_LEN: usize = 10;
    let Some(sign_at) = text.len().checked_sub(6).filter(|&at| at > DATE_LEN) else {
        return Ok((text, 0));
    };
    let (local, offset) = text.split_at(sign_at);
    let sign = match offset.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Ok((text, 0)),
    };
    let (hours, minutes) = offset
        .get(1..)
        .and_then(|hm| hm.split_once(':'))
        .ok_or("the UTC offset must look like +hh:mm")?;
    let hours: i64 = hours
        .parse()
        .map_err(|_| "the UTC offset hours are not a number")?;
    let minutes: i64 = minutes
        .parse()
        .map_err(|_| "the UTC offset minutes are not a number")?;
    if hours > 23 || minutes > 59 {
        return Err("the UTC offset is out of range");
    }
    Ok((local, sign * (hours * 3_600 + minutes * 60)))
}

/// Parses a `key=value` header; the value may be empty and may hold `=`.
pub(crate) fn parse_header(input: &str) -> Result<(String, String), String> {
    match input.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "invalid header '{input}': use key=value, e.g. trace=abc123"
        )),
    }
}

/// Parses a JSON document given on the command line.
pub(crate) fn parse_json(input: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(input).map_err(|e| {
        format!("invalid JSON: {e}; quote it for the shell, e.g. '{{\"to\":\"ada\"}}'")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_documented_units() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3_600)),
            ("2d", Duration::from_secs(172_800)),
            ("1h30m", Duration::from_secs(5_400)),
            ("1s250ms", Duration::from_millis(1_250)),
            ("30", Duration::from_secs(30)),
            (" 0 ", Duration::ZERO),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn bad_durations_explain_the_accepted_forms() {
        for input in [
            "",
            "s",
            "10x",
            "1.5s",
            "-1s",
            "10s5",
            "99999999999999999999d",
            "ten",
        ] {
            let err = parse_duration(input).expect_err(input);
            assert!(err.contains("500ms, 10s"), "{input:?}: {err}");
            assert!(
                err.contains(&format!("'{input}'")),
                "names the input: {err}"
            );
        }
    }

    #[test]
    fn negative_durations_say_so() {
        let err = parse_duration("-5s").unwrap_err();
        assert!(err.contains("cannot be negative"), "{err}");
    }

    #[test]
    fn positive_durations_refuse_zero() {
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
        for input in ["0", "0s", "0h0m"] {
            let err = parse_positive_duration(input).expect_err(input);
            assert!(err.contains("more than zero"), "{input:?}: {err}");
        }
        assert!(parse_positive_duration("soon").is_err());
    }

    #[test]
    fn times_parse_as_rfc3339_with_offsets_or_as_unix_milliseconds() {
        let expected = UNIX_EPOCH + Duration::from_secs(1_893_459_845);
        assert_eq!(parse_time("2030-01-01T01:04:05Z"), Ok(expected));
        assert_eq!(parse_time("2030-01-01T03:04:05+02:00"), Ok(expected));
        assert_eq!(parse_time("2029-12-31T23:34:05-01:30"), Ok(expected));
        assert_eq!(parse_time("1893459845000"), Ok(expected));
        assert_eq!(
            parse_time("2030-01-01T01:04:05.250Z"),
            Ok(expected + Duration::from_millis(250))
        );
    }

    #[test]
    fn bad_times_name_both_accepted_forms() {
        for input in ["tomorrow", "2030-01-01", "2030-01-01T01:04:05+25:00", ""] {
            let err = parse_time(input).expect_err(input);
            assert!(
                err.contains("RFC 3339") && err.contains("Unix epoch"),
                "{err}"
            );
        }
    }

    #[test]
    fn headers_split_at_the_first_equals_sign() {
        assert_eq!(parse_header("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_header("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=v").is_err());
    }

    #[test]
    fn json_payloads_must_be_valid_json() {
        assert_eq!(parse_json(r#"{"n":1}"#), Ok(serde_json::json!({"n": 1})));
        assert!(parse_json("{n:1}").unwrap_err().contains("invalid JSON"));
    }
}
