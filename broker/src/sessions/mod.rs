//! Worker sessions: what the broker knows of connected workers, owned by the server and handed
//! to the gRPC services (the broker core knows nothing of them).
//!
//! # Layout
//! - `registry.rs`: [`SessionRegistry`]: the open sessions and the leases kept for a reconnect.
//! - `session.rs`: [`WorkerSession`]: one worker's credits, pushed and running leases.
//! - `stops.rs`: [`Stop`]: leases taken back from the worker (revoked, start refused).
//! - `control.rs`: [`ControlRouter`]: control commands to workers and their answers.

mod control;
mod registry;
mod session;
mod stops;

pub use control::{ControlRequest, ControlRouter, WorkerCommand, WorkerReply};
pub use registry::{SessionRegistry, WorkerInfo};
pub use session::{SessionOptions, WorkerSession, MAX_CREDITS};
pub use stops::Stop;
