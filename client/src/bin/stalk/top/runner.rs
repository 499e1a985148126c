//! The terminal and the loop: take the screen (raw mode, alternate screen), start the feeds,
//! then draw, wait for an update, apply it, and draw again until the user quits. The screen
//! is given back on every way out: a return, an error, or a panic (ratatui's hook).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::crossterm::event::{self as terminal_event, Event as TerminalEvent};
use ratatui::DefaultTerminal;
use stalk_client::Client;
use tokio::sync::mpsc::{self, Sender};
use tokio::task::JoinSet;

use super::feed::{self, Update};
use super::input::{handle_key, Command};
use super::model::{App, Feed};
use super::{view, TopArgs};
use crate::args::ConnArgs;
use crate::follow::Followed;

/// The span rates and latencies are computed over.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Updates waiting for the loop; past this the feeds wait (the broker buffers events).
const UPDATES_QUEUED: usize = 1024;

/// Most updates applied between two frames, so a flood of events cannot starve the screen.
const UPDATES_PER_FRAME: usize = 1000;

/// How often the key reader checks whether the loop still listens.
const KEY_POLL: Duration = Duration::from_millis(100);

/// Gives the screen back when dropped, however the loop ends.
struct Screen(DefaultTerminal);

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs `stalk top` until the user quits.
///
/// # Errors
/// A terminal that cannot be set up, drawn on or read.
pub(crate) async fn run(client: Client, conn: ConnArgs, args: TopArgs) -> anyhow::Result<()> {
    let terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let mut screen = Screen(terminal);
    let (updates, mut inbox) = mpsc::channel(UPDATES_QUEUED);
    // Dropped on return: every feed task is aborted with it.
    let mut tasks = JoinSet::new();
    feed::spawn_poller(
        &mut tasks,
        client.clone(),
        args.queues.clone(),
        args.interval,
        updates.clone(),
    );
    let query = feed::event_query(&args.queues, None);
    feed::spawn_follower(&mut tasks, conn.clone(), query, updates.clone());
    spawn_key_reader(updates.clone());
    let mut app = App::new(RATE_WINDOW, Instant::now());
    loop {
        screen
            .0
            .draw(|frame| view::draw(frame, &app, &conn.addr, Instant::now()))
            .context("cannot draw on the terminal")?;
        let Some(first) = inbox.recv().await else {
            return Ok(());
        };
        let mut next = Some(first);
        for _ in 0..UPDATES_PER_FRAME {
            let Some(update) = next.take() else { break };
            match apply(&mut app, update)? {
                Some(Command::Quit) => return Ok(()),
                Some(Command::Open(id)) => {
                    feed::spawn_detail(&mut tasks, client.clone(), id, updates.clone());
                }
                None => {}
            }
            next = inbox.try_recv().ok();
        }
    }
}

/// Applies one update to the view; a key may ask for more.
fn apply(app: &mut App, update: Update) -> anyhow::Result<Option<Command>> {
    let now = Instant::now();
    match update {
        Update::Snapshot(snapshot) => app.apply_snapshot(snapshot, now),
        Update::PollFailed(error) => app.poll_error = Some(error),
        Update::Followed(Followed::Event(event)) => {
            app.feed = Feed::Live;
            app.apply_event(&event, now);
        }
        Update::Followed(Followed::Live) => app.feed = Feed::Live,
        Update::Followed(Followed::Notice(notice)) => app.feed = Feed::Notice(notice),
        // Only a `stop_at_end` query ends, and top follows live events.
        Update::Followed(Followed::End) => {}
        Update::FollowFailed(error) => app.feed = Feed::Notice(format!("stopped: {error}")),
        Update::Detail(detail) => app.show_detail(detail),
        Update::Terminal(TerminalEvent::Key(key)) => return Ok(handle_key(app, key)),
        // A resize needs only the redraw every update gets.
        Update::Terminal(_) => {}
        Update::TerminalFailed(err) => return Err(err).context("cannot read the terminal"),
    }
    Ok(None)
}

/// Reads terminal events on a thread of its own (crossterm's reads block) until the loop
/// stops listening.
fn spawn_key_reader(updates: Sender<Update>) {
    std::thread::spawn(move || {
        while !updates.is_closed() {
            let update = match terminal_event::poll(KEY_POLL) {
                Ok(false) => continue,
                Ok(true) => match terminal_event::read() {
                    Ok(event) => Update::Terminal(event),
                    Err(err) => Update::TerminalFailed(err),
                },
                Err(err) => Update::TerminalFailed(err),
            };
            let failed = matches!(update, Update::TerminalFailed(_));
            if updates.blocking_send(update).is_err() || failed {
                return;
            }
        }
    });
}
