//! Test kit for stalk: a real broker on `127.0.0.1:0` with a temporary data dir, restartable on
//! the same dir, and [`wait_until`] for conditions that become true in time.
//!
//! It is not for production use: nothing here is tuned or hardened.
//!
//! # Layout
//! - [`TestBroker`]: start, connect clients, restart, shut down.
//! - [`ReservedPort`]: a port to start a worker against before its broker starts there.
//! - [`wait_until`]: poll a condition with a deadline; on timeout, report what was last seen.
//! - [`http_get`]: one plain HTTP/1.1 GET (a `/metrics` endpoint, Prometheus's API).
//!
//! # Example
//! ```no_run
//! # async fn demo() {
//! let broker = stalk_testkit::TestBroker::start().await;
//! let client = broker.client().await;
//! # let _ = client;
//! broker.shutdown().await;
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stalk_broker::broker::Broker;
use stalk_broker::clock::{Clock, SystemClock};
use stalk_broker::sessions::SessionRegistry;
use stalk_broker::{Config, Server};
use stalk_client::Client;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpSocket};

/// A broker running in this process on a loopback port, with its data in a temp dir.
#[derive(Debug)]
pub struct TestBroker {
    dir: TempDir,
    config: Config,
    clock: Arc<dyn Clock>,
    server: Option<Server>,
    addr: SocketAddr,
}

impl TestBroker {
    /// Starts a broker with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker after `configure` adjusted its settings (the data dir is the kit's own).
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(Arc::new(SystemClock), configure).await
    }

    /// As [`TestBroker::start_with`], on `clock` (a `ManualClock` lets a test move time by
    /// hand; the broker's timers see the new time within a second).
    pub async fn start_with_clock(
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(listener, clock, configure).await
    }

    /// Starts a broker on `listener`.
    async fn start_on(
        listener: TcpListener,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().expect("create a temp data dir");
        let mut config = Config::with_data_dir(dir.path().join("data"));
        configure(&mut config);
        config.data_dir = dir.path().join("data");
        let server = stalk_broker::start_with_clock(listener, config.clone(), clock.clone())
            .await
            .expect("start the test broker");
        let addr = server.addr();
        Self {
            dir,
            config,
            clock,
            server: Some(server),
            addr,
        }
    }

    /// The address the broker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The settings the broker runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where `/metrics` is served, when the config asked for it (`Config::metrics_listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server
            .as_ref()
            .expect("invariant: a TestBroker always holds a server")
            .metrics_addr()
    }

    /// The connected workers' sessions, for white-box assertions.
    pub fn sessions(&self) -> &Arc<SessionRegistry> {
        self.server
            .as_ref()
            .expect("invariant: a TestBroker always holds a server")
            .sessions()
    }

    /// The broker core, for white-box assertions.
    pub fn broker(&self) -> &Arc<Broker> {
        self.server
            .as_ref()
            .expect("invariant: a TestBroker always holds a server")
            .broker()
    }

    /// A client connected to the broker (with the configured auth token, if any).
    pub async fn client(&self) -> Client {
        let mut builder = Client::builder(self.url());
        if let Some(token) = &self.config.auth_token {
            builder = builder.auth_token(token.clone());
        }
        builder.connect().await.expect("connect to the test broker")
    }

    /// Shuts the broker down gracefully and starts it again on the same data dir and, when the
    /// port is still free, the same address.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("graceful shutdown");
        }
        let listener = match TcpListener::bind(self.addr).await {
            Ok(listener) => listener,
            Err(_) => TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0"),
        };
        let server =
            stalk_broker::start_with_clock(listener, self.config.clone(), self.clock.clone())
                .await
                .expect("restart the test broker");
        self.addr = server.addr();
        self.server = Some(server);
    }

    /// Stops the broker gracefully.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("graceful shutdown");
        }
    }
}

/// A loopback port taken but not listening yet: connecting to it is refused, as to a broker
/// that has not started, until [`ReservedPort::start`] starts one there. Nothing else can take
/// the port meanwhile, so a test can start a worker before its broker without a race.
#[derive(Debug)]
pub struct ReservedPort {
    socket: TcpSocket,
    addr: SocketAddr,
}

impl ReservedPort {
    /// Takes a free loopback port.
    pub fn new() -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("the bound address");
        Self { socket, addr }
    }

    /// `http://127.0.0.1:port`, where the broker will be.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts a broker with default settings on the port.
    pub async fn start(self) -> TestBroker {
        self.start_with(|_| {}).await
    }

    /// Starts a broker on the port after `configure` adjusted its settings.
    pub async fn start_with(self, configure: impl FnOnce(&mut Config)) -> TestBroker {
        let listener = self
            .socket
            .listen(1024)
            .expect("listen on the reserved port");
        TestBroker::start_on(listener, Arc::new(SystemClock), configure).await
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `probe` every 10 ms until `done` holds for its value or `timeout` passes.
///
/// # Errors
/// On timeout, the last value seen, so a failing test can say what it observed.
pub async fn wait_until<T, F, Fut>(
    timeout: Duration,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> Result<T, T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let value = probe().await;
        if done(&value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(value);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// GETs `path` from `addr` over plain HTTP/1.1 (`Connection: close`): the status line and the
/// body.
///
/// # Errors
/// When the connection fails, or the answer is not an HTTP response.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let response = http_request(addr, "GET", path, &[], "").await?;
    Ok((response.status, response.body))
}

/// An HTTP answer as [`http_request`] read it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    pub status: String,
    /// The header lines, as sent.
    pub headers: Vec<String>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends one plain HTTP/1.1 request (`Connection: close`) with `headers` and `body` (a
/// `Content-Length` is added when the body is not empty), and reads the whole answer. For
/// answers of a known length, not streams.
///
/// # Errors
/// When the connection fails, or the answer is not an HTTP response.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let not_http = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(not_http)?;
    let mut lines = head.lines();
    let status = lines.next().ok_or_else(not_http)?.to_string();
    Ok(HttpResponse {
        status,
        headers: lines.map(str::to_string).collect(),
        body: body.to_string(),
    })
}

/// The program `name` from `PATH`, or `None` when it is not installed, for tests that need a
/// system tool `.ci/run` installs from Debian's `package`: under `CI=true` a missing tool fails
/// the test; elsewhere the test says it was skipped.
///
/// # Panics
/// When `name` is missing and `CI` is set.
pub fn system_tool(name: &str, package: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing: .ci/run installs Debian's {package} package"
        );
        eprintln!("skipped: {name} is not installed (apt-get install {package})");
    }
    found
}
