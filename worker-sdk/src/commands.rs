//! User-defined control commands: handlers a worker's code registers by name
//! ([`crate::WorkerBuilder::control_command`]) and `stalk control custom NAME --arg k=v` runs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The arguments of a control command, by name (`--arg k=v` on the command line).
pub type CommandArgs = BTreeMap<String, String>;

/// A control command's answer: a message, and facts for the reply's `details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandReply {
    /// What the worker says (at most 4 KiB reach the broker).
    pub message: String,
    /// Facts to report; they are added to the worker's own (`pid`, `pool`, …) and win over
    /// them.
    pub details: BTreeMap<String, String>,
}

impl CommandReply {
    /// A reply saying `message`, with no details of its own.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: BTreeMap::new(),
        }
    }

    /// Adds a fact to the reply's details.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}

impl From<String> for CommandReply {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for CommandReply {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// A registered command's handler. It runs on a blocking thread, so it may block briefly;
/// `Err(why)` answers `ok = false` with that message.
pub(crate) type CommandHandler =
    Arc<dyn Fn(&CommandArgs) -> Result<CommandReply, String> + Send + Sync>;

/// The user-defined commands of a worker, by name.
#[derive(Clone, Default)]
pub(crate) struct ControlCommands(BTreeMap<String, CommandHandler>);

impl fmt::Debug for ControlCommands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl ControlCommands {
    /// Registers `handler` as `name`, replacing one of that name.
    pub(crate) fn insert(&mut self, name: String, handler: CommandHandler) {
        self.0.insert(name, handler);
    }

    /// The handler of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<CommandHandler> {
        self.0.get(name).cloned()
    }

    /// The names registered, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
