//! The messages between a prefork parent and its child, length-prefixed on a Unix socket.

use bytes::Bytes;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::context::Handoff;
use crate::error::TaskError;
use crate::time::millis;

/// Largest frame either side accepts: a payload or result is bounded by the broker well below.
const MAX_FRAME: usize = 256 << 20;

/// An attempt for the child to run.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ChildJob {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) payload: Bytes,
    /// 0 = none.
    #[prost(uint64, tag = "5")]
    pub(crate) soft_limit_ms: u64,
    /// What the handler may read of the task (no payload, no lease). Tags 3 and 4 (its id and
    /// attempt, before) are retired; parent and child are one binary, so no old peer reads them.
    #[prost(message, optional, tag = "6")]
    pub(crate) task: Option<stalk_proto::v1::LeasedTask>,
}

/// How the child's attempt ended.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ChildReply {
    /// 0 success, 1 retryable failure, 2 fatal failure.
    #[prost(uint32, tag = "1")]
    pub(crate) status: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
    #[prost(string, tag = "3")]
    pub(crate) kind: String,
    #[prost(string, tag = "4")]
    pub(crate) message: String,
    /// A retry's countdown in ms; 0 = the task's backoff.
    #[prost(uint64, tag = "5")]
    pub(crate) countdown_ms: u64,
    /// What the handler handed on (`TaskContext::replace`).
    #[prost(message, optional, tag = "6")]
    pub(crate) replace: Option<stalk_proto::v1::Canvas>,
    /// What it added to its workflow (`TaskContext::add_to_workflow`).
    #[prost(message, repeated, tag = "7")]
    pub(crate) add: Vec<stalk_proto::v1::Canvas>,
}

impl ChildReply {
    /// The reply for a handler's result and what it handed on.
    pub(crate) fn from_attempt(result: Result<Vec<u8>, TaskError>, handoff: Handoff) -> Self {
        Self {
            replace: handoff.replace,
            add: handoff.add,
            ..Self::from_result(result)
        }
    }

    /// What the handler handed on, taken out of the reply.
    pub(crate) fn take_handoff(&mut self) -> Handoff {
        Handoff {
            replace: self.replace.take(),
            add: std::mem::take(&mut self.add),
        }
    }

    /// The reply for a handler's result.
    pub(crate) fn from_result(result: Result<Vec<u8>, TaskError>) -> Self {
        match result {
            Ok(value) => Self {
                value,
                ..Self::default()
            },
            Err(TaskError::Retry {
                kind,
                message,
                countdown,
            }) => Self {
                status: 1,
                kind,
                message,
                countdown_ms: countdown.map_or(0, |d| millis(d).max(1)),
                ..Self::default()
            },
            Err(TaskError::Fatal { kind, message }) => Self {
                status: 2,
                kind,
                message,
                ..Self::default()
            },
        }
    }

    /// The handler's result again.
    pub(crate) fn into_result(self) -> Result<Vec<u8>, TaskError> {
        match self.status {
            0 => Ok(self.value),
            1 => Err(TaskError::Retry {
                kind: self.kind,
                message: self.message,
                countdown: (self.countdown_ms > 0)
                    .then(|| std::time::Duration::from_millis(self.countdown_ms)),
            }),
            _ => Err(TaskError::fatal(self.kind, self.message)),
        }
    }
}

/// Writes one message as a frame.
pub(crate) async fn write<M: Message>(
    to: &mut (impl AsyncWrite + Unpin),
    message: &M,
) -> std::io::Result<()> {
    let body = message.encode_to_vec();
    let len = u32::try_from(body.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    to.write_all(&frame).await
}

/// Reads one frame; `None` at a clean end of the stream.
pub(crate) async fn read<M: Message + Default>(
    from: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    from.read_exact(&mut body).await?;
    M::decode(body.as_slice())
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_survive_the_trip() {
        let results = [
            Ok(b"42".to_vec()),
            Err(TaskError::Retry {
                kind: "IOError".into(),
                message: "reset".into(),
                countdown: Some(std::time::Duration::from_millis(1500)),
            }),
            Err(TaskError::fatal("Bad", "no")),
        ];
        for result in results {
            let mut wire = Vec::new();
            write(&mut wire, &ChildReply::from_result(result.clone()))
                .await
                .unwrap();
            let back: ChildReply = read(&mut wire.as_slice()).await.unwrap().unwrap();
            assert_eq!(back.into_result(), result);
        }
    }

    #[tokio::test]
    async fn an_oversized_or_cut_frame_is_an_error() {
        let huge = u32::MAX.to_be_bytes();
        assert!(read::<ChildJob>(&mut huge.as_slice()).await.is_err());
        let cut = [0u8, 0, 0, 9, 1, 2];
        assert!(read::<ChildJob>(&mut cut.as_slice()).await.is_err());
        assert!(read::<ChildJob>(&mut [].as_slice())
            .await
            .unwrap()
            .is_none());
    }
}
