//! [`Follow`]: an event watch that reconnects by itself and goes on from the last event it
//! yielded. It feeds `stalk events` and `stalk top`.

use std::time::Duration;

use stalk_client::{ClientError, Event, EventQuery, EventWatch, WatchItem};

use crate::args::ConnArgs;
use crate::commands::connect;

/// How long a [`Follow`] waits before it reconnects to a broker that went away.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// How long a [`Follow`] waits between a watch that ended and the next, so a broker that
/// ends watches at once is not called in a tight loop.
const PAUSE_BETWEEN_WATCHES: Duration = Duration::from_millis(100);

/// What [`Follow::next`] yields.
#[derive(Debug)]
pub(crate) enum Followed {
    /// An event the query takes.
    Event(Box<Event>),
    /// Something the user should know (a reconnect, a gap); the follow goes on.
    Notice(String),
    /// Every retained event asked for was yielded; live ones follow.
    Live,
    /// A `stop_at_end` query yielded its last event.
    End,
}

/// An event watch that outlives the broker going away: after a disconnect it connects again
/// and goes on from the last event it yielded, so nothing retained is missed. Shared by
/// `stalk events` and `stalk top`.
#[derive(Debug)]
pub(crate) struct Follow {
    conn: ConnArgs,
    /// The query to open the next watch with; `from_seq` follows the events yielded.
    query: EventQuery,
    watch: Option<EventWatch>,
    /// Until the first watch opens, a failure is the user's (a wrong address, a bad filter)
    /// and is returned; after it, the broker went away and is waited for.
    connected_once: bool,
    /// How long to wait before opening the next watch.
    backoff: Option<Duration>,
}

impl Follow {
    /// A follow of `query`; nothing connects before the first [`Follow::next`].
    pub(crate) fn new(conn: ConnArgs, query: EventQuery) -> Self {
        Self {
            conn,
            query,
            watch: None,
            connected_once: false,
            backoff: None,
        }
    }

    /// The next event or notice, reconnecting as often as it takes.
    ///
    /// # Errors
    /// A first connection or watch that fails, and errors that another try would not mend
    /// (a refused filter, an event this client cannot read).
    pub(crate) async fn next(&mut self) -> anyhow::Result<Followed> {
        loop {
            let Some(watch) = self.watch.as_mut() else {
                if let Some(pause) = self.backoff.take() {
                    tokio::time::sleep(pause).await;
                }
                if let Some(notice) = self.open().await? {
                    return Ok(Followed::Notice(notice));
                }
                continue;
            };
            let item = match watch.next().await {
                Ok(Some(item)) => item,
                Ok(None) if self.query.stop_at_end => return Ok(Followed::End),
                // The broker shut down: go on from where this watch was once it is back.
                Ok(None) => {
                    self.close(PAUSE_BETWEEN_WATCHES);
                    continue;
                }
                Err(err) if is_transient(&err) => {
                    self.close(PAUSE_BETWEEN_WATCHES);
                    return Ok(Followed::Notice(format!(
                        "the event stream broke ({err}); reconnecting"
                    )));
                }
                Err(err) => return Err(err.into()),
            };
            match item {
                WatchItem::Event(event) => {
                    self.query.from_seq = Some(event.seq + 1);
                    return Ok(Followed::Event(event));
                }
                WatchItem::Live { next_seq } => {
                    let from = self.query.from_seq.unwrap_or(next_seq).max(next_seq);
                    self.query.from_seq = Some(from);
                    return Ok(Followed::Live);
                }
                WatchItem::Lagged { resume_from } => {
                    return Ok(Followed::Notice(format!(
                        "this terminal fell behind the live events; reading the stored ones \
                         from {resume_from} (nothing is skipped)"
                    )));
                }
                WatchItem::TooOld {
                    asked_seq,
                    oldest_seq,
                } => {
                    self.query.from_seq = Some(oldest_seq);
                    self.close(PAUSE_BETWEEN_WATCHES);
                    return Ok(Followed::Notice(format!(
                        "events {asked_seq}..{oldest_seq} were removed by the broker's \
                         retention; going on from {oldest_seq}"
                    )));
                }
            }
        }
    }

    /// Opens a watch from `query`. `Some(notice)` when the broker is away and will be tried
    /// again after [`RECONNECT_AFTER`].
    async fn open(&mut self) -> anyhow::Result<Option<String>> {
        let client = match connect(&self.conn).await {
            Ok(client) => client,
            Err(err) if self.connected_once => {
                self.backoff = Some(RECONNECT_AFTER);
                return Ok(Some(format!("{err:#}; reconnecting")));
            }
            Err(err) => return Err(err),
        };
        match client.watch_events(self.query.clone()).await {
            Ok(watch) => {
                self.watch = Some(watch);
                self.connected_once = true;
                Ok(None)
            }
            Err(err) if self.connected_once && is_transient(&err) => {
                self.backoff = Some(RECONNECT_AFTER);
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    fn close(&mut self, pause: Duration) {
        self.watch = None;
        self.backoff = Some(pause);
    }
}

/// Whether a watch that failed this way is worth opening again.
fn is_transient(err: &ClientError) -> bool {
    matches!(err, ClientError::Connect(_))
        || matches!(
            err.code(),
            Some(tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown)
        )
}
