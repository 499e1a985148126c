//! Background drivers: one small task per timer (ETA/retry due, lease expiry, task expiry,
//! result TTL). Each sleeps until its timer's next deadline or until a command moved that
//! deadline earlier, then issues the timer's command. A driver that fails poisons the broker.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::engine::Timer;

/// Longest sleep between checks, so a wall-clock jump is noticed within this bound.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Runs the driver for `timer` until `shutdown` is cancelled.
pub(crate) async fn run(broker: Arc<Broker>, timer: Timer, shutdown: CancellationToken) {
    loop {
        let next = match broker.tick(timer).await {
            Ok(next) => next,
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
