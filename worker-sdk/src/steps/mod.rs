//! Bootsteps: a worker is built from components that declare what they require. The worker
//! orders them by dependency, starts them in that order and stops them in reverse.
//!
//! The built-in steps are [`CONNECTION`] (checks the broker answers), [`POOL`] (the pool that
//! runs attempts), [`SESSION`] (the streaming session that takes tasks), [`LEASE_KEEPER`]
//! (extends the leases of running tasks) and [`HEARTBEAT`] (tells the broker an idle worker is
//! alive) and [`CONTROL`] (answers control commands: ping, shutdown, time limits, queue and
//! pool changes, user-defined commands). A user step with a
//! built-in's name replaces it. A user step that the session does not
//! depend on starts before the session, so what it provides is ready before the first task.

mod builtin;
mod control;
mod names;
mod order;
mod request;
mod step;

pub(crate) use builtin::{builtins, Settings};
pub(crate) use names::NAMES;
pub use names::{CONNECTION, CONTROL, HEARTBEAT, LEASE_KEEPER, POOL, SESSION};
pub(crate) use order::order;
pub(crate) use request::{Reconfigure, StepRequest};
pub(crate) use step::Steps;
pub use step::{Step, StepContext};
