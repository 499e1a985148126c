//! Compiles `stalk/v1/*.proto` with protox (pure Rust: no system protoc) and writes the
//! descriptor set that the broker serves through gRPC reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "stalk/v1/tasks.proto",
    "stalk/v1/admin.proto",
    "stalk/v1/worker.proto",
    "stalk/v1/schedules.proto",
    "stalk/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // compile_fds does not write the descriptor set itself (that is a protoc step), so write it.
    std::fs::write(out_dir.join("stalk_v1_descriptor.bin"), fds.encode_to_vec())?;
    // Every `bytes` field is `bytes::Bytes`: decoded as a slice of the received frame and
    // handed through the broker without a copy.
    // `WatchEventsResponse` is written by hand (`src/watch.rs`) so a server can send events it
    // encoded once to many watchers.
    tonic_prost_build::configure()
        .bytes(".")
        .extern_path(
            ".stalk.v1.WatchEventsResponse",
            "crate::watch::WatchEventsResponse",
        )
        .compile_fds(fds)?;
    Ok(())
}
