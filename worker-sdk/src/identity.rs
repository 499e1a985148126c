//! What a worker tells about itself: its machine's name and its SDK's version.

/// The SDK and its version, as the broker lists it.
pub(crate) const SDK_VERSION: &str = concat!("stalk-worker/", env!("CARGO_PKG_VERSION"));

/// This machine's name, for the broker's listing; empty if it cannot be read.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}
