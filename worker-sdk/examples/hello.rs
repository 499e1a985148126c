//! The smallest worker: greets whoever a `hello` task names, until ctrl-c.
//!
//! ```sh
//! cargo run --release --bin stalkd                                   # terminal 1
//! cargo run -p stalk-worker --example hello                          # terminal 2
//! cargo run --bin stalk -- enqueue hello --json '"Ada"'              # terminal 3
//! cargo run --bin stalk -- result <id> --wait 5s
//! ```

use stalk_worker::{TaskError, Worker};

#[tokio::main]
async fn main() -> Result<(), stalk_worker::WorkerError> {
    let addr = std::env::var("STALK_ADDR").unwrap_or_else(|_| "127.0.0.1:7070".into());
    Worker::builder(addr)
        .queues(["default"])
        .concurrency(4)
        .task("hello", |name: String| async move {
            Ok::<_, TaskError>(format!("hello, {name}"))
        })
        .connect()
        .await?
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
