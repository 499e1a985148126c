//! What watches a broker under load (`--watchers`, `--scrape-metrics`): event watchers that
//! follow the whole stream, and a scraper that reads `/metrics` every second, so their cost
//! shows in a scenario's figures.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stalk_client::{EventQuery, WatchItem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::Common;
use crate::target::Target;

/// The watchers and the scraper of one run; they stop when this is dropped.
#[derive(Debug, Default)]
pub struct Observers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Events the watchers received, all together.
    pub events: Arc<AtomicU64>,
    /// Scrapes that answered.
    pub scrapes: Arc<AtomicU64>,
}

impl Observers {
    /// Attaches `--watchers` watchers (each following) and, with `--scrape-metrics`, the
    /// scraper; returns once every watcher follows the live stream.
    ///
    /// # Errors
    /// When a watch cannot be opened.
    pub async fn start(target: &Target, common: &Common) -> anyhow::Result<Self> {
        let mut observers = Self::default();
        for _ in 0..common.watchers {
            let client = target.clients(1).await?.remove(0);
            let mut watch = client
                .watch_events(EventQuery::default())
                .await
                .context("open an event watch")?;
            // Following once the live marker came.
            watch.next().await.context("the live marker")?;
            let events = observers.events.clone();
            observers.tasks.push(tokio::spawn(async move {
                while let Ok(Some(item)) = watch.next().await {
                    if let WatchItem::Event(_) = item {
                        events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        if let Some(addr) = target.metrics_addr.filter(|_| common.scrape_metrics) {
            let scrapes = observers.scrapes.clone();
            observers.tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    if scrape(addr).await.is_ok() {
                        scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        Ok(observers)
    }
}

impl Drop for Observers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One `GET /metrics`, read to the end.
async fn scrape(addr: SocketAddr) -> std::io::Result<usize> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await
}
