//! Test-only generators of hostile bytes for the property-based fuzz tests of the record decoders
//! (`store::fuzz`) and the request conversions (`service::fuzz`) (issue 12, §3).
//!
//! Uniformly random bytes rarely decode as protobuf, so they would only test prost. These are
//! protobuf-shaped instead: a few fields with random numbers, wire types and values, nested up to
//! three levels, with edge-case integers and name-like strings, so most inputs decode and reach
//! the checks behind the decoder.

use proptest::prelude::*;

/// Protobuf-shaped bytes, three levels deep (e.g. a request, a task spec, a header entry).
pub(crate) fn protobufish() -> BoxedStrategy<Vec<u8>> {
    let leaf = leaf_payload();
    let one = fields(leaf.clone());
    let two = fields(prop_oneof![leaf.clone(), one].boxed());
    fields(prop_oneof![leaf, two].boxed())
}

/// Protobuf-shaped bytes, or random ones, behind a version byte that is usually [`version`].
pub(crate) fn record(version: u8) -> BoxedStrategy<Vec<u8>> {
    let body = prop_oneof![protobufish(), prop::collection::vec(any::<u8>(), 0..64)];
    let version = prop_oneof![4 => Just(version), 1 => any::<u8>()];
    (version, body)
        .prop_map(|(v, body)| [vec![v], body].concat())
        .boxed()
}

/// The payload of a length-delimited field that holds no message: raw bytes or a name-like string.
fn leaf_payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        "[a-z0-9._-]{1,12}".prop_map(String::into_bytes),
    ]
    .boxed()
}

/// Zero to eight fields, each a length-delimited one holding `payload` or a scalar.
fn fields(payload: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let value = prop_oneof![
        edge_u64().prop_map(Value::Varint),
        payload.prop_map(Value::Bytes),
        any::<u32>().prop_map(Value::Fixed32),
        any::<u64>().prop_map(Value::Fixed64),
    ];
    prop::collection::vec((1u32..=24, value), 0..8)
        .prop_map(|fields| {
            let mut out = Vec::new();
            for (number, value) in fields {
                value.encode(number, &mut out);
            }
            out
        })
        .boxed()
}

/// Integers near the bounds the conversions check, and any other.
fn edge_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        0u64..16,
        Just(u64::MAX),
        Just(i64::MAX.unsigned_abs()),
        Just(366 * 86_400_000),
        any::<u64>(),
    ]
    .boxed()
}

/// One field's value, by wire type.
#[derive(Debug, Clone)]
enum Value {
    Varint(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
    Fixed64(u64),
}

impl Value {
    fn encode(self, number: u32, out: &mut Vec<u8>) {
        use prost::encoding::{encode_key, encode_varint, WireType};
        match self {
            Self::Varint(v) => {
                encode_key(number, WireType::Varint, out);
                encode_varint(v, out);
            }
            Self::Bytes(bytes) => {
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(bytes.len() as u64, out);
                out.extend_from_slice(&bytes);
            }
            Self::Fixed32(v) => {
                encode_key(number, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Self::Fixed64(v) => {
                encode_key(number, WireType::SixtyFourBit, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}
