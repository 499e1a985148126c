//! The names of the built-in steps: a user step with one of them replaces that step.

/// Name of the built-in step that checks the broker answers (and accepts the token).
pub const CONNECTION: &str = "connection";
/// Name of the built-in step that starts and closes the pool.
pub const POOL: &str = "pool";
/// Name of the built-in step that opens the streaming session; requires connection and pool.
pub const SESSION: &str = "session";
/// Name of the built-in step that extends running leases; requires the session.
pub const LEASE_KEEPER: &str = "lease-keeper";
/// Name of the built-in step that sends heartbeats; requires the session.
pub const HEARTBEAT: &str = "heartbeat";
/// Name of the built-in step that answers control commands (`stalk control`); requires the
/// session.
pub const CONTROL: &str = "control";

/// The built-in step names.
pub(crate) const NAMES: [&str; 6] = [CONNECTION, POOL, SESSION, LEASE_KEEPER, HEARTBEAT, CONTROL];
