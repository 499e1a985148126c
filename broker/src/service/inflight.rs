//! Tracks every RPC in flight, so shutdown can wait for the calls themselves and then close
//! idle connections at once, instead of waiting for clients to hang up (hyperium/hyper#4170).

use std::task::{Context, Poll};

use tokio_util::task::task_tracker::TrackedFuture;
use tokio_util::task::TaskTracker;

/// Wraps each service so its calls are counted by a [`TaskTracker`].
#[derive(Debug, Clone)]
pub(crate) struct InFlightLayer(pub(crate) TaskTracker);

impl<S> tower::Layer<S> for InFlightLayer {
    type Service = InFlight<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlight {
            inner,
            tracker: self.0.clone(),
        }
    }
}

/// A service whose calls are tracked.
#[derive(Debug, Clone)]
pub(crate) struct InFlight<S> {
    inner: S,
    tracker: TaskTracker,
}

impl<S, R> tower::Service<R> for InFlight<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.tracker.track_future(self.inner.call(request))
    }
}
