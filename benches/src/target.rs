//! The broker under load: a `stalkd` child with a temp data dir, or a running broker at `--addr`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use stalk_client::Client;

use crate::args::{Common, Durability};

/// A broker to load, with its clients.
pub struct Target {
    /// `http://host:port`.
    pub url: String,
    /// Where a spawned broker serves `/metrics` (with `--scrape-metrics`).
    pub metrics_addr: Option<std::net::SocketAddr>,
    child: Option<Child>,
    _data_dir: Option<tempfile::TempDir>,
}

impl Target {
    /// Spawns `stalkd` (or uses `--addr`) and waits until it serves.
    ///
    /// # Errors
    /// When `stalkd` cannot be found or started.
    pub fn start(common: &Common) -> anyhow::Result<Self> {
        if let Some(addr) = &common.addr {
            let url = if addr.contains("://") {
                addr.clone()
            } else {
                format!("http://{addr}")
            };
            return Ok(Self {
                url,
                metrics_addr: None,
                child: None,
                _data_dir: None,
            });
        }
        let stalkd = match &common.stalkd {
            Some(path) => path.clone(),
            None => sibling("stalkd")?,
        };
        let data_dir = tempfile::tempdir().context("create a temp data dir")?;
        let durability = match common.durability {
            Durability::Sync => "sync",
            Durability::Fast => "fast",
        };
        let mut command = Command::new(&stalkd);
        command.args([
            "--listen",
            "127.0.0.1:0",
            "--durability",
            durability,
            "--data-dir",
        ]);
        command.arg(data_dir.path());
        if common.scrape_metrics {
            command.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        let mut child = command
            .env("STALK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "spawn {}; build it with `cargo build --release --bin stalkd`",
                    stalkd.display()
                )
            })?;
        let stdout = child.stdout.take().context("stalkd stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("read stalkd's ready line")?;
        let ready: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("stalkd did not print a ready line, got {line:?}"))?;
        let Some(addr) = ready["addr"].as_str() else {
            bail!("stalkd's ready line has no addr: {line}");
        };
        let metrics_addr = ready["metrics_addr"].as_str().and_then(|a| a.parse().ok());
        if common.scrape_metrics && metrics_addr.is_none() {
            bail!("stalkd's ready line has no metrics_addr: {line}");
        }
        Ok(Self {
            url: format!("http://{addr}"),
            metrics_addr,
            child: Some(child),
            _data_dir: Some(data_dir),
        })
    }

    /// `n` separate connections to the broker.
    ///
    /// # Errors
    /// When a connection fails.
    pub async fn clients(&self, n: usize) -> anyhow::Result<Vec<Client>> {
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            clients.push(
                Client::connect(&self.url)
                    .await
                    .context("connect to the broker")?,
            );
        }
        Ok(clients)
    }

    /// `(current, peak)` resident memory of a spawned broker, MiB.
    pub fn rss_mib(&self) -> (Option<f64>, Option<f64>) {
        let Some(child) = &self.child else {
            return (None, None);
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) else {
            return (None, None);
        };
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locate loadgen")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found; build it with `cargo build --release --bin stalkd` or pass --stalkd",
            path.display()
        );
    }
    Ok(path)
}
