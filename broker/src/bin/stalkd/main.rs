//! `stalkd`: the stalk broker. Parses flags (each with a `STALK_*` environment twin), sets up
//! logging, binds the listener, prints one JSON line with the bound address, and serves until
//! SIGTERM or SIGINT.

mod args;
mod check;

use anyhow::Context;
use args::{Args, LogFormat};
use clap::Parser;
use stalk_broker::config::{ConfigError, TlsFiles};
use stalk_broker::Config;

// glibc's malloc serializes the broker's threads on its arena locks (a quarter of the CPU under
// load, measured with perf); mimalloc keeps per-thread heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Args::parse();
    if let Some(args::Command::Check(check)) = &args.command {
        std::process::exit(check::run(check));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            args.worker_threads
                .map_or_else(default_worker_threads, usize::from),
        )
        .thread_name("stalkd-worker")
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(serve(args)),
        Err(err) => Err(anyhow::Error::new(err).context("cannot start the async runtime")),
    };
    if let Err(err) = result {
        eprintln!("stalkd: {err:#}");
        // A setting out of range is a usage error, as clap's own are.
        let usage = err.downcast_ref::<ConfigError>().is_some();
        std::process::exit(if usage { 2 } else { 1 });
    }
}

/// One core fewer than the machine has (at least one): sled's I/O threads, which write and
/// sync every flush, need the rest. On 2 cores, one worker served single-task enqueues faster
/// than two (35,000-39,000/s against 31,000/s with 128 callers), because cross-worker wake-ups
/// cost more than they parallelise.
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let auth_token = match &args.auth_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --auth-token-file {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        None => args.auth_token.clone(),
    };
    let config = Config {
        data_dir: args.data_dir.clone(),
        durability: args.durability,
        result_ttl: args.result_ttl,
        priority_aging: args.priority_aging,
        max_payload_bytes: args.max_payload_bytes,
        auth_token,
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(cert, key)| TlsFiles { cert, key }),
        shutdown_timeout: args.shutdown_timeout,
        flush_every: args.flush_every,
        min_free_space: args.min_free_space,
        accept_data_loss: args.accept_data_loss,
        metrics_listen: args.metrics_listen.clone(),
        cache_bytes: args.cache_mib.saturating_mul(1 << 20),
        session_grace: args.session_grace,
        worker_silence: args.worker_silence,
        event_retention_count: args.event_retention_count,
        event_retention_age: args.event_retention_age,
    };
    config.validate()?;
    // Binding a HOST:PORT string resolves the host and tries each address it has.
    let listener = tokio::net::TcpListener::bind(args.listen.as_str())
        .await
        .with_context(|| listen_error(&args.listen))?;
    let mut server = stalk_broker::start(listener, config).await?;
    let mut signals = StopSignals::listen()?;
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "addr": server.addr().to_string(),
            "metrics_addr": server.metrics_addr().map(|a| a.to_string()),
            "data_dir": args.data_dir,
        })
    );
    tokio::select! {
        () = signals.recv() => {}
        result = server.stopped() => result?,
    }
    tokio::spawn(async move {
        signals.recv().await;
        eprintln!("stalkd: second signal, exiting now");
        std::process::exit(130);
    });
    exit_if_stuck(args.shutdown_timeout + WATCHDOG_MARGIN);
    server.shutdown().await?;
    Ok(())
}

/// How long past `--shutdown-timeout` the watchdog lets a shutdown run.
const WATCHDOG_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Exits the process with status 1 if it is still running after `limit`. After a storage
/// failure sled can block for good, in a flush or in dropping the database (which flushes and
/// joins its flusher thread), and those are not async: only a thread of its own can still end
/// the process.
fn exit_if_stuck(limit: std::time::Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("stalkd: shutdown did not finish within {limit:?}; exiting without it");
        std::process::exit(1);
    });
}

fn listen_error(listen: &str) -> String {
    format!("cannot listen on {listen}: is the host this machine's and the port free? pick another --listen")
}

/// SIGTERM and SIGINT (ctrl-c), caught from the moment this is made. It is made before the ready
/// line is printed: a supervisor that sends SIGTERM as soon as it reads the line then gets a
/// graceful stop, where before the signal's default action could kill the broker unflushed.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind| signal(kind).context("cannot listen for SIGTERM and SIGINT");
            Ok(Self {
                term: listen(SignalKind::terminate())?,
                interrupt: listen(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves at the next signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STALK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // No colour codes in a file, a pipe or a container log.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
