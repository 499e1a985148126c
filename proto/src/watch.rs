//! `stalk.v1.WatchEventsResponse`, written by hand (the build maps the message here) so that a
//! server can send one batch of events, encoded once, to every watcher that takes all of it:
//! with many watchers, converting and encoding each event once per watcher was most of what
//! watching cost the broker.
//!
//! On the wire it is the message `events.proto` declares; a decoded message always holds its
//! events in [`WatchEventsResponse::events`].

use prost::bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::v1::Event;

/// One message of the stream: events, or a marker.
#[derive(Clone, PartialEq, Default)]
pub struct WatchEventsResponse {
    /// Events the filters take, in order: a message carries one or many (at most 1000), so a
    /// busy stream costs one message per batch of changes, not one per event.
    pub events: Vec<Event>,
    /// What the stream says besides events.
    pub marker: Option<watch_events_response::Marker>,
    /// Events already in wire form ([`encode_events`]), sent before `events`. Only a sender
    /// sets it; decoding puts every event in `events`.
    encoded: Bytes,
}

/// Encodes `events` as the entries of a `WatchEventsResponse`'s `events` field, for
/// [`WatchEventsResponse::encoded`]: once, however many watchers it is sent to.
pub fn encode_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Bytes {
    let mut buf = BytesMut::new();
    for event in events {
        encoding::message::encode(1, event, &mut buf);
    }
    buf.freeze()
}

impl WatchEventsResponse {
    /// A message of events.
    pub fn with_events(events: Vec<Event>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// A message of a marker.
    pub fn with_marker(marker: watch_events_response::Marker) -> Self {
        Self {
            marker: Some(marker),
            ..Self::default()
        }
    }

    /// A message of events encoded beforehand with [`encode_events`] (other bytes make a
    /// message its receiver cannot decode).
    pub fn encoded(events: Bytes) -> Self {
        Self {
            encoded: events,
            ..Self::default()
        }
    }

    /// Moves the events encoded beforehand into `events`, as a receiver would see them: for an
    /// in-process reader of a server's stream.
    ///
    /// # Errors
    /// When the encoded events do not decode (they were not made by [`encode_events`]).
    pub fn decode_encoded(&mut self) -> Result<(), DecodeError> {
        let mut decoded = <Self as prost::Message>::decode(std::mem::take(&mut self.encoded))?;
        decoded.events.append(&mut self.events);
        self.events = decoded.events;
        Ok(())
    }
}

impl std::fmt::Debug for WatchEventsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchEventsResponse")
            .field("events", &self.events)
            .field("marker", &self.marker)
            .field("encoded_bytes", &self.encoded.len())
            .finish()
    }
}

impl prost::Message for WatchEventsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
        for event in &self.events {
            encoding::message::encode(1, event, buf);
        }
        if let Some(marker) = &self.marker {
            marker.encode(buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx).map_err(
                |mut error| {
                    error.push("WatchEventsResponse", "events");
                    error
                },
            ),
            2..=4 => {
                watch_events_response::Marker::merge(&mut self.marker, tag, wire_type, buf, ctx)
                    .map_err(|mut error| {
                        error.push("WatchEventsResponse", "marker");
                        error
                    })
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.encoded.len()
            + encoding::message::encoded_len_repeated(1, &self.events)
            + self.marker.as_ref().map_or(0, |m| m.encoded_len())
    }

    fn clear(&mut self) {
        self.events.clear();
        self.marker = None;
        self.encoded = Bytes::new();
    }
}

/// Nested types of `WatchEventsResponse`.
pub mod watch_events_response {
    use crate::v1::{Lagged, Live, TooOld};

    /// What the stream says besides events.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Oneof)]
    pub enum Marker {
        /// Every retained event asked for was sent; live ones follow.
        #[prost(message, tag = "2")]
        Live(Live),
        /// This watcher fell behind the live events (it reads slower than they come). Nothing
        /// is skipped: the broker goes on from its stored events at `resume_from`.
        #[prost(message, tag = "3")]
        Lagged(Lagged),
        /// The events asked for were removed by retention. The stream ends after this; watch
        /// again from `oldest_seq` (and accept the gap) to go on.
        #[prost(message, tag = "4")]
        TooOld(TooOld),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::watch_events_response::Marker;
    use super::{encode_events, WatchEventsResponse};
    use crate::v1::{Event, Live};

    fn event(seq: u64, task_name: &str) -> Event {
        Event {
            seq,
            task_name: task_name.to_owned(),
            type_name: "task-sent".to_owned(),
            ..Event::default()
        }
    }

    #[test]
    fn encoded_events_decode_as_the_events_field() {
        let events = [event(1, "a"), event(2, "b")];
        let mut message = WatchEventsResponse::encoded(encode_events(&events));
        message.events.push(event(3, "c"));
        let wire = message.encode_to_vec();
        assert_eq!(wire.len(), message.encoded_len());
        let decoded = WatchEventsResponse::decode(wire.as_slice()).expect("decodes");
        assert_eq!(
            decoded.events,
            vec![event(1, "a"), event(2, "b"), event(3, "c")]
        );
        assert_eq!(decoded.marker, None);

        message.decode_encoded().expect("decodes in process");
        assert_eq!(message, decoded);
    }

    #[test]
    fn markers_and_events_round_trip() {
        let mut message = WatchEventsResponse::with_marker(Marker::Live(Live { next_seq: 8 }));
        message.events.push(event(7, "x"));
        let decoded =
            WatchEventsResponse::decode(message.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded, message);
    }

    #[test]
    fn bad_encoded_events_are_an_error_in_process() {
        let mut message = WatchEventsResponse::encoded(vec![0x0a, 0x05].into());
        assert!(message.decode_encoded().is_err());
    }
}
