//! Starting a prefork child: the worker binary again, connected over an abstract Unix socket
//! that only that child may use.

use std::os::linux::net::SocketAddrExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use super::child::CHILD_ENV;
use super::process::describe;

/// How long a new child may take to start and connect.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A live child.
#[derive(Debug)]
pub(super) struct ChildProc {
    pub(super) pid: u32,
    pub(super) process: tokio::process::Child,
    pub(super) reader: OwnedReadHalf,
    pub(super) writer: OwnedWriteHalf,
    pub(super) born: Instant,
    pub(super) tasks: u32,
}

/// Starts a child: this binary again, with the same arguments, told to serve a socket.
///
/// The socket is in Linux's abstract namespace, so it leaves no file behind however the worker
/// ends; and as anyone on the host could connect to it, a connection counts only when it comes
/// from the child just started (its pid, checked with SO_PEERCRED): the socket runs code.
pub(super) async fn spawn_child(n: u64) -> Result<ChildProc, String> {
    let name = format!("stalk-worker-{}-child-{n}", std::process::id());
    let listener = listen(&name).map_err(|e| format!("cannot listen on @{name}: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut command = tokio::process::Command::new(&exe);
    command
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, &name)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // Its own process group: a ctrl-c in the terminal reaches the parent only, which then
    // shuts its children down in order.
    #[cfg(unix)]
    command.process_group(0);
    let mut process = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = process.id().unwrap_or(0);
    let connected = tokio::select! {
        accepted = accept_from(&listener, pid) => accepted.map_err(|e| e.to_string()),
        status = process.wait() => Err(format!(
            "{} (pid {pid}) ended before it connected: {}. A prefork worker's binary must build \
             and run the same Worker when it starts as a child",
            exe.display(),
            describe(pid, status.ok())
        )),
        () = tokio::time::sleep(CHILD_START_TIMEOUT) => Err(format!(
            "{} (pid {pid}) did not connect within {CHILD_START_TIMEOUT:?}",
            exe.display()
        )),
    };
    let stream = connected?;
    let (reader, writer) = stream.into_split();
    tracing::debug!(pid, "prefork child started");
    Ok(ChildProc {
        pid,
        process,
        reader,
        writer,
        born: Instant::now(),
        tasks: 0,
    })
}

/// Listens on the abstract socket `name`.
fn listen(name: &str) -> std::io::Result<UnixListener> {
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// The first connection made by process `pid`; others are dropped with a warning.
async fn accept_from(listener: &UnixListener, pid: u32) -> std::io::Result<UnixStream> {
    loop {
        let (stream, _) = listener.accept().await?;
        let peer = stream.peer_cred()?.pid();
        if peer.and_then(|p| u32::try_from(p).ok()) == Some(pid) {
            return Ok(stream);
        }
        tracing::warn!(
            ?peer,
            child = pid,
            "refused a connection to a prefork child's socket from another process"
        );
    }
}
