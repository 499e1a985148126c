//! What a worker process talks to: the broker, or, in a prefork child, its parent.

use std::path::PathBuf;
use std::time::Duration;

use stalk_client::{Client, ClientBuilder, ClientError};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::backoff::Backoff;
use crate::error::{chain, WorkerError};
use crate::pool::child_socket;
use crate::time::millis;

/// First wait for a broker that does not answer yet; the waits double up to [`WAIT_MAX`].
const WAIT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between attempts to reach the broker: a worker started long before its broker
/// still finds it within seconds of it starting.
const WAIT_MAX: Duration = Duration::from_secs(5);

/// The CA a TLS broker's certificate is checked against.
#[derive(Debug)]
pub(crate) enum TlsCa {
    Pem(Vec<u8>),
    File(PathBuf),
}

/// What a worker process talks to.
#[derive(Debug)]
pub(crate) enum Link {
    /// The broker: this is the worker.
    Broker(Channel),
    /// A prefork parent's socket: this is one of its children.
    Child(String),
}

impl Link {
    /// Connects to the broker at `addr`, waiting for it to answer (forever, or at most `wait`);
    /// in a prefork child, takes the parent's socket instead (the child connects to it when
    /// run).
    ///
    /// # Errors
    /// [`WorkerError::Config`] when the CA file cannot be read; [`WorkerError::Connect`] when
    /// the address cannot be used or the broker did not answer within `wait`.
    pub(crate) async fn open(
        addr: &str,
        tls_ca: Option<TlsCa>,
        wait: Option<Duration>,
    ) -> Result<Self, WorkerError> {
        if let Some(path) = child_socket() {
            return Ok(Self::Child(path));
        }
        let mut client = Client::builder(addr);
        match tls_ca {
            Some(TlsCa::Pem(pem)) => client = client.tls_ca_pem(pem),
            Some(TlsCa::File(path)) => {
                let pem = std::fs::read(&path).map_err(|e| {
                    WorkerError::Config(format!(
                        "cannot read the CA certificate {}: {e}",
                        path.display()
                    ))
                })?;
                client = client.tls_ca_pem(pem);
            }
            None => {}
        }
        let client = wait_for_broker(client, addr, wait)
            .await
            .map_err(|source| WorkerError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Self::Broker(client.channel()))
    }
}

/// Connects with `client`, retrying with jittered backoff while the broker cannot be reached
/// (compose and Kubernetes start a worker and its broker in any order), for at most `wait`.
async fn wait_for_broker(
    client: ClientBuilder,
    addr: &str,
    wait: Option<Duration>,
) -> Result<Client, ClientError> {
    let started = Instant::now();
    let mut backoff = Backoff::new(WAIT_MIN, WAIT_MAX);
    loop {
        let cause = match client.clone().connect().await {
            Err(ClientError::Connect(cause)) => cause,
            answered => return answered,
        };
        let delay = backoff.next_delay();
        if wait.is_some_and(|wait| started.elapsed() + delay > wait) {
            return Err(ClientError::Connect(cause));
        }
        tracing::warn!(
            broker = addr,
            cause = %chain(&cause),
            retry_in = ?Duration::from_millis(millis(delay)),
            "waiting for the broker at {addr}"
        );
        tokio::time::sleep(delay).await;
    }
}
