//! `stalk`: the command-line client. Glue only: parse flags, run the command on a small
//! runtime, print errors as one line and exit with the code `exit` maps them to.

mod args;
mod commands;
mod control;
mod events;
mod exit;
mod follow;
mod inspect;
mod limits;
mod parse;
mod render;
mod schedules;
mod table;
mod top;
mod workflow;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (exit::USAGE).
    let cli = args::Cli::parse();
    // One command is one or two calls: a single-threaded runtime is enough.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("stalk: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            eprintln!("stalk: {}", exit::error_line(&err));
            ExitCode::from(exit::code_for(&err))
        }
    }
}
