//! What a worker process talks to: the broker, or, in a prefork child, its parent.

use std::path::PathBuf;

use tonic::transport::Channel;

use crate::error::WorkerError;
use crate::pool::child_socket;

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
    /// Connects to the broker at `addr`; in a prefork child, takes the parent's socket instead
    /// (the child connects to it when run).
    ///
    /// # Errors
    /// [`WorkerError::Config`] when the CA file cannot be read; [`WorkerError::Connect`] when
    /// the broker cannot be reached.
    pub(crate) async fn open(addr: &str, tls_ca: Option<TlsCa>) -> Result<Self, WorkerError> {
        if let Some(path) = child_socket() {
            return Ok(Self::Child(path));
        }
        let mut client = stalk_client::Client::builder(addr);
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
        let client = client.connect().await.map_err(WorkerError::Connect)?;
        Ok(Self::Broker(client.channel()))
    }
}
