//! `loadgen`: end-to-end load against a `stalkd` (spawned with a temp data dir, or `--addr`).
//!
//! ```sh
//! cargo build --release --bin stalkd --bin loadgen
//! target/release/loadgen enqueue-batch --batch 100 --concurrency 4 --tasks 500000
//! ```

use clap::Parser;
use stalk_benches::args::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if stalk_worker::is_prefork_child() {
        return stalk_benches::scenarios::drain::child().await;
    }
    let cli = Cli::parse();
    let summary = stalk_benches::scenarios::run(&cli).await?;
    stalk_benches::report::emit(&summary, cli.common.out.as_deref())
}
