//! [`Client`] and [`ClientBuilder`]: the connection to a broker, with optional auth and TLS.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use stalk_proto::v1::admin_client::AdminClient;
use stalk_proto::v1::schedules_client::SchedulesClient;
use stalk_proto::v1::task_queue_client::TaskQueueClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::addr::{parse_addr, Scheme};
use crate::error::ClientError;

/// The default of [`ClientBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest message the client sends or accepts. tonic's default of 4 MiB refused a lease of
/// 100 tasks of 64 KiB; the broker bounds what it sends by its own limit (`--max-payload-bytes`
/// plus 64 MiB), so the client's bound only has to be above any broker's.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The channel type under both generated clients: every call passes the auth interceptor.
pub(crate) type AuthedChannel = InterceptedService<Channel, BearerAuth>;

/// A connection to a stalk broker: producer, worker and admin calls.
///
/// Cloning is cheap and shares the one HTTP/2 connection (tonic multiplexes calls over it), so
/// clone a `Client` into every task that needs one instead of connecting again. The channel
/// reconnects by itself after the broker restarts.
#[derive(Clone)]
pub struct Client {
    addr: Arc<str>,
    channel: Channel,
    tasks: TaskQueueClient<AuthedChannel>,
    admin: AdminClient<AuthedChannel>,
    schedules: SchedulesClient<AuthedChannel>,
}

impl Client {
    /// Connects to the broker at `addr` (`host:port`, `http://host:port` or
    /// `https://host:port`) without auth, with the default connect timeout.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidAddress`] if `addr` cannot be parsed, [`ClientError::Connect`] if no
    /// connection could be made.
    pub async fn connect(addr: &str) -> Result<Self, ClientError> {
        Self::builder(addr).connect().await
    }

    /// Starts configuring a connection to `addr`: auth token, timeouts, TLS.
    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            addr: addr.into(),
            auth_token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tls_ca_pem: None,
        }
    }

    /// The address this client was built with, as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The underlying tonic channel, for other services on the same broker (e.g. health).
    /// It does not carry the auth interceptor.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The generated `TaskQueue` client (a cheap clone; its calls take `&mut self`).
    pub(crate) fn tasks(&self) -> TaskQueueClient<AuthedChannel> {
        self.tasks.clone()
    }

    /// The generated `Admin` client (a cheap clone).
    pub(crate) fn admin(&self) -> AdminClient<AuthedChannel> {
        self.admin.clone()
    }

    /// The generated `Schedules` client (a cheap clone).
    pub(crate) fn schedules_client(&self) -> SchedulesClient<AuthedChannel> {
        self.schedules.clone()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; made by [`Client::builder`], finished by [`ClientBuilder::connect`].
#[derive(Clone)]
pub struct ClientBuilder {
    addr: String,
    auth_token: Option<String>,
    connect_timeout: Duration,
    tls_ca_pem: Option<Vec<u8>>,
}

impl ClientBuilder {
    /// Sends `authorization: Bearer <token>` on every call.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// How long to wait for the TCP (and TLS) connection; default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Uses TLS and trusts only this CA (PEM). A `host:port` address then means `https://`.
    /// Without it, `https://` addresses trust the operating system's root certificates.
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca_pem = Some(pem.into());
        self
    }

    /// Connects, failing fast if the broker cannot be reached.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidAddress`] for an unparsable address or `http://` with a TLS CA,
    /// [`ClientError::InvalidToken`] for a token that cannot be a header value,
    /// [`ClientError::Connect`] if the connection (or TLS setup) fails.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let addr = parse_addr(&self.addr)?;
        let tls = match (addr.scheme, self.tls_ca_pem.is_some()) {
            (Scheme::Http, true) => {
                return Err(ClientError::InvalidAddress {
                    input: self.addr,
                    reason: "it says http:// but a TLS CA was given; use https://".into(),
                })
            }
            (Scheme::Http, false) => false,
            (Scheme::Https, _) => true,
            (Scheme::Unspecified, has_ca) => has_ca,
        };
        let auth = BearerAuth::new(self.auth_token.as_deref())?;
        let endpoint = Endpoint::from_shared(addr.uri(tls))
            .map_err(|err| ClientError::InvalidAddress {
                input: self.addr.clone(),
                reason: err.to_string(),
            })?
            .connect_timeout(self.connect_timeout);
        let endpoint = if tls {
            let config = match &self.tls_ca_pem {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_enabled_roots(),
            };
            endpoint.tls_config(config).map_err(ClientError::Connect)?
        } else {
            endpoint
        };
        let channel = endpoint.connect().await.map_err(ClientError::Connect)?;
        Ok(Client {
            addr: self.addr.into(),
            tasks: TaskQueueClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admin: AdminClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            schedules: SchedulesClient::with_interceptor(channel.clone(), auth)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            channel,
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a secret: say only whether there is one.
        f.debug_struct("ClientBuilder")
            .field("addr", &self.addr)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_ca_pem", &self.tls_ca_pem.is_some())
            .finish()
    }
}

/// Adds the bearer token, if any, to every request.
#[derive(Clone)]
pub(crate) struct BearerAuth(Option<AsciiMetadataValue>);

impl BearerAuth {
    fn new(token: Option<&str>) -> Result<Self, ClientError> {
        let Some(token) = token else {
            return Ok(Self(None));
        };
        let invalid = |reason: &str| ClientError::InvalidToken {
            reason: reason.to_owned(),
        };
        if token.is_empty() {
            return Err(invalid("it is empty"));
        }
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "it contains spaces, control or non-ASCII characters",
            ));
        }
        let mut value: AsciiMetadataValue = format!("Bearer {token}")
            .parse()
            .map_err(|_| invalid("it contains characters outside visible ASCII"))?;
        value.set_sensitive(true);
        Ok(Self(Some(value)))
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(token: Option<&str>) -> Option<String> {
        let mut auth = BearerAuth::new(token).expect("valid token");
        let request = auth
            .call(tonic::Request::new(()))
            .expect("interceptor passes");
        request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    #[test]
    fn a_token_becomes_a_bearer_header_on_every_call() {
        assert_eq!(header_of(Some("s3cret")).as_deref(), Some("Bearer s3cret"));
        assert_eq!(header_of(None), None, "no token, no header");
    }

    #[test]
    fn unusable_tokens_are_refused_without_echoing_them() {
        for token in ["", "two words", "line\nbreak", "snow☃"] {
            let err = BearerAuth::new(Some(token)).err().expect("refused");
            assert!(
                matches!(err, ClientError::InvalidToken { .. }),
                "{token:?}: {err:?}"
            );
            if !token.is_empty() {
                assert!(!err.to_string().contains(token), "token leaked: {err}");
            }
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let builder = Client::builder("localhost:7070").auth_token("s3cret");
        let text = format!("{builder:?}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[tokio::test]
    async fn http_with_a_tls_ca_is_refused_before_connecting() {
        let err = Client::builder("http://localhost:7070")
            .tls_ca_pem(b"pem".to_vec())
            .connect()
            .await
            .expect_err("contradictory settings");
        assert!(matches!(err, ClientError::InvalidAddress { .. }), "{err:?}");
    }
}
