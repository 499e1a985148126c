//! The stalk wire API, package `stalk.v1`: the protobuf messages and the tonic client and server
//! code generated from `proto/stalk/v1/*.proto`.
//!
//! The `.proto` files are the public API for every language; their comments document each rpc
//! and field (semantics, units, bounds, defaults). This crate only compiles them.
//!
//! It is not a client: Rust programs use `stalk-client`, which wraps these types.
//!
//! # Layout
//! - [`v1`]: messages, the `TaskQueue`, `Admin` and `Workers` service traits, clients and servers.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC server reflection.
//! - [`duration`]: the one text syntax for durations that every stalk binary reads (`10s`, `1h30m`,
//!   a bare number of seconds); it lives here, below the broker, the client and the worker SDK.

pub mod duration;
mod watch;

/// Generated code for package `stalk.v1`; the proto comments are its documentation.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("stalk.v1");

    pub use crate::watch::{encode_events, watch_events_response, WatchEventsResponse};
}

/// The encoded `FileDescriptorSet` of every stalk.v1 proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("stalk_v1_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn file_descriptor_set_is_valid_and_names_both_services() {
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let services: Vec<&str> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter().filter_map(|s| s.name.as_deref()))
            .collect();
        assert!(services.contains(&"TaskQueue"), "services: {services:?}");
        assert!(services.contains(&"Admin"), "services: {services:?}");
    }
}
