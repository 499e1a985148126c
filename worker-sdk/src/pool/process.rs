//! What the parent can learn about a child process: its memory and how it ended.

use std::process::ExitStatus;

/// The resident set size of process `pid` in bytes, from `/proc` (Linux); `None` where it cannot
/// be read.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A byte count for people: `12.3 MiB`.
pub(crate) fn mib(bytes: u64) -> String {
    // Display only: the precision lost converting to f64 does not matter.
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / f64::from(1 << 20);
    format!("{mib:.1} MiB")
}

/// How a child ended, for an attempt's error: the signal (with the usual reason for it) or the
/// exit code.
pub(crate) fn describe(pid: u32, status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return format!("child process {pid} ended in a way that could not be read");
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                9 => "SIGKILL: killed by hand or by the kernel's out-of-memory killer",
                15 => "SIGTERM",
                11 => "SIGSEGV: a segmentation fault",
                6 => "SIGABRT: an abort",
                7 => "SIGBUS: a bus error",
                4 => "SIGILL: an illegal instruction",
                8 => "SIGFPE: an arithmetic fault",
                2 => "SIGINT",
                _ => "a signal",
            };
            return format!("child process {pid} was killed by signal {signal} ({name})");
        }
    }
    match status.code() {
        Some(code) => format!("child process {pid} exited with code {code} while running the task"),
        None => format!("child process {pid} ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size() {
        let rss = rss_bytes(std::process::id()).expect("linux /proc");
        assert!(rss > 1 << 20, "{rss}");
    }

    #[cfg(unix)]
    #[test]
    fn signals_and_exit_codes_are_named() {
        use std::os::unix::process::ExitStatusExt;
        let killed = describe(7, Some(ExitStatus::from_raw(9)));
        assert!(killed.contains("signal 9 (SIGKILL"), "{killed}");
        let exited = describe(7, Some(ExitStatus::from_raw(3 << 8)));
        assert!(exited.contains("exited with code 3"), "{exited}");
    }
}
