//! Logging for worker binaries: human lines or JSON on stderr, filtered by `STALK_LOG`, with the
//! HTTP/2 stack kept quiet unless asked for.

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; colored only when stderr is a terminal.
    #[default]
    Human,
    /// One JSON object per line, as `stalkd --log-format json` writes.
    Json,
}

/// Targets that log every HTTP/2 frame and connection event at debug: held at `warn` unless
/// `STALK_LOG` names them, so `STALK_LOG=debug` shows the worker, not the transport.
const CHATTY: [&str; 5] = ["h2", "hyper", "hyper_util", "tower", "tonic"];

/// Logs to stderr in `format`, filtered by `STALK_LOG` (default `info`; e.g. `STALK_LOG=debug`,
/// or `STALK_LOG=stalk_worker=debug,h2=debug` to see the frames too). The worker logs its
/// startup (broker, queues, tasks, pool, concurrency), each task's outcome (successes at
/// `info`, retries at `warn`, final failures at `error`; receipts at `debug`) and pool events
/// such as child recycles with their reason. Does nothing if the program has set a logger
/// already.
pub fn init_logging(format: LogFormat) {
    let stalk_log = std::env::var("STALK_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_new(directives(stalk_log.as_deref()))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives(None)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The filter directives for `STALK_LOG`'s value: it, or `info`, plus `warn` for each chatty
/// target it does not name.
fn directives(stalk_log: Option<&str>) -> String {
    let asked = stalk_log.map(str::trim).filter(|s| !s.is_empty());
    let mut directives = asked.unwrap_or("info").to_string();
    let named: Vec<&str> = directives
        .split(',')
        .filter_map(|d| d.split(['=', '[']).next())
        .map(str::trim)
        .collect();
    let quiet: Vec<String> = CHATTY
        .iter()
        .filter(|&&target| {
            !named
                .iter()
                .any(|n| *n == target || n.starts_with(&format!("{target}::")))
        })
        .map(|target| format!("{target}=warn"))
        .collect();
    for directive in quiet {
        directives.push(',');
        directives.push_str(&directive);
    }
    directives
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_stays_at_warn_unless_named() {
        assert_eq!(
            directives(None),
            "info,h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn"
        );
        assert_eq!(
            directives(Some("debug")),
            "debug,h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn"
        );
        assert_eq!(
            directives(Some("debug,h2=trace,tonic::transport=debug")),
            "debug,h2=trace,tonic::transport=debug,hyper=warn,hyper_util=warn,tower=warn"
        );
    }
}
