//! The session loop: opens connections (again, with backoff, after a break) and hands their
//! events to the [`Session`] until warm shutdown is over.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use stalk_proto::v1 as pb;
use stalk_proto::v1::workers_client::WorkersClient;
use tokio::sync::mpsc;
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::outbox::Disconnected;
use super::{Session, SessionSettings};
use crate::backoff::Backoff;
use crate::error::{status_sentence, WorkerError};
use crate::pool::{Done, Pool};
use crate::steps::StepRequest;

/// First wait before reconnecting a broken session; doubles up to [`RECONNECT_MAX`], jittered.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// What the steps hand the session loop.
#[derive(Debug)]
pub(crate) struct Links {
    /// Completions from the pool.
    pub(crate) done: mpsc::UnboundedReceiver<Done>,
    /// Requests of the lease keeper, heartbeat and control handler.
    pub(crate) requests: mpsc::Receiver<StepRequest>,
    /// The control handler's inbox, if there is one.
    pub(crate) commands: Option<mpsc::Sender<pb::ControlRequest>>,
}

/// What ends a session from outside.
struct Stops<'p, W, C> {
    /// Warm shutdown: the caller's signal or a step's request.
    warm: Pin<&'p mut W>,
    /// Cold shutdown, once stopping.
    cold: Pin<&'p mut C>,
    /// Armed when warm shutdown begins.
    deadline: Pin<&'p mut Sleep>,
}

/// How a connection ended.
enum End {
    /// Warm shutdown finished.
    Done,
    /// The stream broke; reconnect.
    Broken,
}

/// Runs sessions until warm shutdown is over.
///
/// # Errors
/// [`WorkerError::Session`] when the broker refuses the session.
pub(crate) async fn serve(
    settings: &SessionSettings,
    channel: Channel,
    pool: &Pool,
    links: Links,
    shutdown: impl Future<Output = ()>,
    cold: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let Links {
        mut done,
        mut requests,
        commands,
    } = links;
    let mut session = Session::new(settings, pool, commands);
    let deadline = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(shutdown, cold, deadline);
    let mut stops = Stops {
        warm: shutdown,
        cold,
        deadline,
    };
    let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
    let mut opened_before = false;
    loop {
        let outbound = session.open().await;
        session.publish_occupancy();
        let mut from_broker = match connect(settings, channel.clone(), outbound).await {
            Ok(stream) => stream,
            Err(status) if is_refusal(&status) => return Err(WorkerError::Session(status)),
            Err(status) => {
                let delay = backoff.next_delay();
                tracing::warn!(cause = %status_sentence(&status), retry_in = ?delay, "cannot open a session; retrying");
                wait_out(&mut session, delay, &mut done, &mut stops).await;
                if session.is_finished() {
                    return Ok(());
                }
                continue;
            }
        };
        backoff.reset();
        if opened_before {
            settings.metrics.reconnected();
        }
        opened_before = true;
        let ended = run_connection(
            &mut session,
            &mut from_broker,
            &mut done,
            &mut requests,
            &mut stops,
        );
        match ended.await {
            End::Done => {
                session.close(&mut requests, from_broker).await;
                return Ok(());
            }
            End::Broken => session.broken(),
        }
    }
}

/// Opens the broker's side of a session that sends `outbound`.
async fn connect(
    settings: &SessionSettings,
    channel: Channel,
    outbound: mpsc::Receiver<pb::WorkerMessage>,
) -> Result<tonic::Streaming<pb::BrokerMessage>, tonic::Status> {
    let mut request = tonic::Request::new(ReceiverStream::new(outbound));
    if let Some(authorization) = &settings.authorization {
        request
            .metadata_mut()
            .insert("authorization", authorization.clone());
    }
    // A push of many large tasks is one message: accept what the broker may send.
    let response = WorkersClient::new(channel)
        .max_decoding_message_size(stalk_client::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(stalk_client::MAX_MESSAGE_BYTES)
        .session(request)
        .await?;
    Ok(response.into_inner())
}

/// Whether the broker refused the session for a reason a retry cannot fix.
fn is_refusal(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
    )
}

/// Hands one connection's events to the session until warm shutdown is over or the stream
/// breaks.
async fn run_connection<W, C>(
    session: &mut Session<'_>,
    from_broker: &mut tonic::Streaming<pb::BrokerMessage>,
    done: &mut mpsc::UnboundedReceiver<Done>,
    requests: &mut mpsc::Receiver<StepRequest>,
    stops: &mut Stops<'_, W, C>,
) -> End
where
    W: Future<Output = ()>,
    C: Future<Output = ()>,
{
    loop {
        if session.is_drained() {
            return End::Done;
        }
        let sent: Result<(), Disconnected> = tokio::select! {
            received = from_broker.message() => match received {
                Ok(Some(message)) => {
                    dispatch(session, message).await;
                    Ok(())
                }
                Ok(None) | Err(_) => Err(Disconnected),
            },
            Some(first) = done.recv() => {
                let mut finished = vec![first];
                while let Ok(more) = done.try_recv() {
                    finished.push(more);
                }
                session.attempts_done(finished).await
            }
            Some(request) = requests.recv() => session.step_request(request).await,
            () = stops.warm.as_mut(), if !session.is_stopping() => {
                let deadline = session.shutdown_begun();
                stops.deadline.as_mut().reset(deadline);
                Ok(())
            }
            () = stops.cold.as_mut(), if session.is_stopping() => {
                session.cold();
                Ok(())
            }
            () = stops.deadline.as_mut(), if session.is_stopping() => {
                session.deadline_passed();
                Ok(())
            }
        };
        session.publish_occupancy();
        if sent.is_err() {
            return End::Broken;
        }
    }
}

/// Hands a message of the broker to the session; those the worker has no use for (granted
/// extensions, answers to nacks) are dropped.
async fn dispatch(session: &mut Session<'_>, message: pb::BrokerMessage) {
    match message.kind {
        Some(pb::broker_message::Kind::Acked(answer)) => session.acks_answered(answer),
        Some(pb::broker_message::Kind::Welcome(welcome)) => session.welcomed(&welcome),
        Some(pb::broker_message::Kind::Control(request)) => session.control_request(request).await,
        Some(pb::broker_message::Kind::Tasks(batch)) => session.tasks_pushed(batch.tasks).await,
        Some(pb::broker_message::Kind::Stop(stop)) => session.tasks_stopped(stop).await,
        Some(pb::broker_message::Kind::Extended(outcome)) if outcome.error.is_some() => {
            session.lease_lost(outcome).await;
        }
        _ => {}
    }
}

/// Waits out a reconnect backoff while running tasks finish.
async fn wait_out<W, C>(
    session: &mut Session<'_>,
    backoff: Duration,
    done: &mut mpsc::UnboundedReceiver<Done>,
    stops: &mut Stops<'_, W, C>,
) where
    W: Future<Output = ()>,
{
    let sleep = tokio::time::sleep(backoff);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return,
            Some(done) = done.recv() => session.done_while_away(done),
            () = stops.warm.as_mut(), if !session.is_stopping() => session.shutdown_while_away(),
        }
        session.publish_occupancy();
    }
}
