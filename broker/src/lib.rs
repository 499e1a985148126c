//! stalk-broker: durable task queues in sled, served over gRPC.
//!
//! A task flows one way: the gRPC `service` layer validates and converts a request and calls
//! one typed method of the [`broker`] core, which stamps it with time and a sequence number and
//! applies it to the [`engine`], a deterministic state machine; the [`store`] makes the engine's
//! writes durable (group commit) before the client is answered. Background `drivers` turn
//! passing deadlines (retry due, lease expired, result TTL) into engine commands.
//!
//! It is not a client: programs use `stalk-client`; this crate is the broker library and the
//! `stalkd` binary.
//!
//! # Layout
//! - [`server`]: [`start`] a broker on a bound listener, [`Server::shutdown`] it in phases.
//! - [`config`]: settings, defaults and their validation.
//! - `service`: gRPC services (TaskQueue, Admin, health, reflection), conversions, status codes.
//! - [`broker`]: the core that orders commands, waits for durability and wakes long polls.
//! - [`sessions`]: worker sessions (credits, prefetch and running leases), their registry and
//!   control commands; owned by the server, not the broker core.
//! - [`explain`]: why a task is not running, from the engine and the worker sessions.
//! - [`engine`]: tasks, queues, leases, retries, results: `apply(command, ctx) -> outcome`.
//! - [`store`]: sled keys, versioned records, recovery and group commit.
//! - `drivers`: one background task per timer, and the one that reopens the store after a full
//!   disk.
//! - [`stats`]: the counters and histograms behind `/metrics` (served by `scrape`).
//! - `http`: the HTTP address: `/metrics` (`scrape`) and the web `dashboard`, a JSON face over
//!   the gRPC services with its page's assets embedded.
//! - `waiters`: long-poll wake-ups (ready queues, finished results).
//! - [`clock`]: time as an input (system or manual).
//! - `fuzzing` (feature `fuzzing`): the invariant checks the cargo-fuzz targets in `fuzz/` run.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = stalk_broker::start(listener, stalk_broker::Config::with_data_dir("/tmp/stalk")).await?;
//! println!("serving on {}", server.addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod broker;
pub mod clock;
pub mod config;
mod dashboard;
mod drivers;
pub mod engine;
pub mod explain;
#[cfg(test)]
mod fuzz_input;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod scrape;
pub mod server;
mod service;
pub mod sessions;
pub mod stats;
pub mod store;
mod waiters;

pub use config::{Config, Durability};
pub use server::{start, start_with_clock, Server, StartError};

/// Serves until `shutdown` resolves, then stops gracefully.
///
/// # Errors
/// [`StartError`] when the broker cannot start or stops serving on its own.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let mut server = start(listener, config).await?;
    let stopped = tokio::select! {
        () = shutdown => None,
        result = server.stopped() => Some(result),
    };
    if let Some(result) = stopped {
        result?;
    }
    server
        .shutdown()
        .await
        .map_err(|e| StartError::serve("the final flush failed", e))
}
