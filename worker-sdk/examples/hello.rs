//! The smallest worker: greets whoever a `hello` task names. Settings come from flags or
//! `STALK_*` variables (`--help` lists them); SIGTERM or ctrl-c stops it warm, a second one
//! cold.
//!
//! ```sh
//! cargo run --release --bin stalkd                                   # terminal 1
//! cargo run -p stalk-worker --example hello -- --concurrency 4       # terminal 2
//! cargo run --bin stalk -- enqueue hello --json '"Ada"'              # terminal 3
//! cargo run --bin stalk -- result <id> --wait 5s
//! ```

use stalk_worker::TaskError;

#[tokio::main]
async fn main() -> Result<(), stalk_worker::WorkerError> {
    stalk_worker::worker_args!()
        .builder()
        .task("hello", |name: String| async move {
            Ok::<_, TaskError>(format!("hello, {name}"))
        })
        .connect()
        .await?
        .run_until_signal()
        .await
}
