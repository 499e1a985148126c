//! Background drivers: one small task per timer (ETA/retry due, lease expiry, task expiry,
//! result TTL), each sleeping until its timer's next deadline or until a command moved that
//! deadline earlier, then issuing the timer's command; and the reopen driver, which brings a
//! broker failed by its store (a full disk) back once the disk has room; and the driver that
//! writes the events that wait for no flush and trims them to their retention. A timer driver
//! that fails poisons the broker.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::broker::{chain, Broker, EventRetention, DRAIN_EVERY};
use crate::engine::Timer;
use crate::sessions::SessionRegistry;

/// Longest sleep between checks, so a wall-clock jump is noticed within this bound.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often a broker failed by its store checks the free space and tries to reopen it.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// How often events past retention are removed.
const TRIM_EVERY: Duration = Duration::from_secs(1);
/// What the reopen driver remembers of a wait for free space (its numbers change every time).
const LOW_SPACE: &str = "low space";

/// Runs the driver for `timer` until `shutdown` is cancelled.
pub(crate) async fn run(broker: Arc<Broker>, timer: Timer, shutdown: CancellationToken) {
    let mut health = broker.health();
    loop {
        let next = match broker.tick(timer).await {
            Ok(next) => next,
            // The broker failed (a tick is refused like any write then, or its own write
            // failed): wait until the store is reopened, or for good after a failure no
            // reopen clears.
            Err(_) if !*health.borrow_and_update() => {
                tokio::select! {
                    waited = health.wait_for(|ok| *ok) => if waited.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
            Err(err) => {
                broker.poison(timer, err);
                return;
            }
        };
        let now = broker.clock().now_ms();
        let sleep = next.map_or(MAX_SLEEP, |at| {
            Duration::from_millis(at.saturating_sub(now)).min(MAX_SLEEP)
        });
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = broker.timer_moved(timer).notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Until `shutdown`: writes the events that wait for no flush every [`DRAIN_EVERY`], and
/// removes the events retention no longer keeps every [`TRIM_EVERY`]. A failed write fails the
/// broker like any failed write (the reopen driver takes it from there).
pub(crate) async fn events(
    broker: Arc<Broker>,
    retention: EventRetention,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(DRAIN_EVERY);
    let mut last_trim = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let trim = last_trim.elapsed() >= TRIM_EVERY;
        if trim {
            last_trim = tokio::time::Instant::now();
        }
        let working = broker.clone();
        let done = tokio::task::spawn_blocking(move || {
            working.drain_events()?;
            if trim {
                working.trim_events(retention)?;
            }
            Ok::<_, crate::broker::BrokerError>(())
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(cause = %chain(&err), "writing or trimming events failed")
            }
            Err(panicked) => {
                tracing::error!(cause = %panicked, "writing or trimming events panicked")
            }
        }
    }
}

/// Reopens the store of a broker failed by a write or flush (a full disk), until `shutdown`:
/// every [`REOPEN_EVERY`], once at least the `--min-free-space` watermark is free on the data
/// directory's disk, it tries [`Broker::reopen`]. Open worker sessions end by themselves on the
/// reopen; the running leases kept for workers that were cut off are forgotten, as after a
/// restart. A failure no reopen clears (a failed driver, damaged data) ends this driver.
pub(crate) async fn reopen(
    broker: Arc<Broker>,
    sessions: Arc<SessionRegistry>,
    shutdown: CancellationToken,
) {
    let mut health = broker.health();
    loop {
        tokio::select! {
            waited = health.wait_for(|ok| !ok) => if waited.is_err() { return },
            () = shutdown.cancelled() => return,
        }
        let Some(failure) = broker.reopenable_failure() else {
            return;
        };
        tracing::warn!(cause = %chain(&failure), "the store will be reopened once the disk has room");
        // Why the last try did not reopen, so a wait that fails the same way every second is
        // logged once.
        let mut last: Option<String> = None;
        while broker.reopenable_failure().is_some() {
            tokio::select! {
                () = tokio::time::sleep(REOPEN_EVERY) => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(low) = broker.check_free_space() {
                // The free space changes every time: log the wait, not each measurement.
                if last.as_deref() != Some(LOW_SPACE) {
                    tracing::warn!(cause = %low, "waiting for free space before reopening the store");
                    last = Some(LOW_SPACE.into());
                }
                continue;
            }
            let reopening = broker.clone();
            let cause = match tokio::task::spawn_blocking(move || reopening.reopen()).await {
                Ok(Ok(None)) => break,
                Ok(Ok(Some(tasks))) => {
                    sessions.forget_kept();
                    settle_flows(&broker).await;
                    tracing::warn!(
                        tasks,
                        "the disk has room again; reopened the store, {tasks} tasks recovered"
                    );
                    break;
                }
                Ok(Err(err)) => chain(&err),
                Err(panicked) => format!("reopening panicked: {panicked}"),
            };
            if last.as_deref() != Some(cause.as_str()) {
                tracing::error!(%cause, "reopening the store failed");
                last = Some(cause);
            }
        }
    }
}

/// Settles the workflow steps a restart (or a reopen) left between an input and its
/// consequence (see `engine::canvas`); a failure is logged, and the broker fails as on any
/// failed write.
pub(crate) async fn settle_flows(broker: &Broker) {
    match broker.settle_flows().await {
        Ok(0) => {}
        Ok(settled) => tracing::info!(settled, "settled workflow steps after a restart"),
        Err(err) => tracing::error!(cause = %chain(&err), "settling workflow steps failed"),
    }
}
