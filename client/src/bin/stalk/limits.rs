//! `stalk limits set|remove|list`.
//!
//! The broker's SetLimit replaces the limit of a scope and header as a whole. The CLI merges
//! instead, so `limits set queue:mail 100/m --per tenant` after `--concurrency 5 --per tenant`
//! adds a rate to the cap rather than dropping the cap: a setting not given keeps its value,
//! and `--replace` asks for the broker's replace. Reading the limit first and writing it back
//! is two calls; two admins changing the same limit at the same moment can lose one change,
//! which an admin command may accept.

use serde_json::{json, Value};
use stalk_client::{Client, Limit, LimitInfo};

use crate::args::LimitCommand;
use crate::commands::{emit, emit_json};
use crate::table::Table;

/// Runs a `limits` command and prints every limit afterwards.
pub(crate) async fn run(client: &Client, command: LimitCommand, json: bool) -> anyhow::Result<()> {
    let limits = match command {
        LimitCommand::Set {
            scope,
            rate,
            burst,
            concurrency,
            per,
            replace,
        } => {
            let mut limit = Limit {
                scope,
                per_header: per,
                rate,
                burst: burst.unwrap_or(0),
                max_concurrency: concurrency,
            };
            if !replace {
                limit = merged(limit, &client.limits().await?);
            }
            client.set_limit(&limit).await?
        }
        LimitCommand::Remove { scope, per } => client.remove_limit(&scope, per.as_deref()).await?,
        LimitCommand::List => client.limits().await?,
    };
    if json {
        emit_json(&limits_json(&limits))
    } else {
        emit(&limits_table(&limits))
    }
}

/// `limit` with the settings it does not give taken from the current limit of its scope and
/// header. A new rate comes with its own burst (given, or the default): the old burst was
/// chosen for the old rate.
fn merged(mut limit: Limit, current: &[LimitInfo]) -> Limit {
    let Some(old) = current
        .iter()
        .find(|l| l.scope == limit.scope && l.per_header == limit.per_header)
    else {
        return limit;
    };
    if limit.rate.is_none() {
        limit.rate.clone_from(&old.rate);
        limit.burst = old.burst;
    }
    if limit.max_concurrency.is_none() {
        limit.max_concurrency = old.max_concurrency;
    }
    limit
}

fn limits_json(limits: &[LimitInfo]) -> Value {
    limits
        .iter()
        .map(|l| {
            json!({
                "scope": l.scope,
                "per_header": l.per_header,
                "rate": l.rate,
                "burst": l.burst,
                "max_concurrency": l.max_concurrency,
                "running": l.running,
                "waiting": l.waiting,
            })
        })
        .collect()
}

fn limits_table(limits: &[LimitInfo]) -> String {
    let mut table = Table::new(&[
        "SCOPE",
        "PER",
        "RATE",
        "BURST",
        "CONCURRENCY",
        "RUNNING",
        "WAITING",
    ]);
    let or_dash = |text: Option<String>| text.unwrap_or_else(|| "-".into());
    for l in limits {
        table.row(vec![
            l.scope.clone(),
            or_dash(l.per_header.clone()),
            or_dash(l.rate.clone()),
            if l.rate.is_some() {
                l.burst.to_string()
            } else {
                "-".into()
            },
            or_dash(l.max_concurrency.map(|n| n.to_string())),
            l.running.to_string(),
            l.waiting.to_string(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rate: Option<&str>, burst: u32, cap: Option<u32>) -> LimitInfo {
        LimitInfo {
            scope: "queue:mail".into(),
            per_header: Some("tenant".into()),
            rate: rate.map(str::to_owned),
            burst,
            max_concurrency: cap,
            running: 0,
            waiting: 0,
        }
    }

    #[test]
    fn a_setting_not_given_keeps_its_value() {
        let current = [info(None, 0, Some(5))];
        let limit = merged(Limit::queue("mail").per("tenant").rate("100/m"), &current);
        assert_eq!(limit.max_concurrency, Some(5), "the cap stays");
        assert_eq!(limit.rate.as_deref(), Some("100/m"));

        let current = [info(Some("10/s"), 20, Some(5))];
        let limit = merged(
            Limit::queue("mail").per("tenant").max_concurrency(2),
            &current,
        );
        assert_eq!(
            (limit.rate.as_deref(), limit.burst, limit.max_concurrency),
            (Some("10/s"), 20, Some(2)),
            "the rate and its burst stay; the cap changes"
        );
    }

    #[test]
    fn a_new_rate_does_not_inherit_the_old_burst() {
        let current = [info(Some("10/s"), 20, None)];
        let limit = merged(Limit::queue("mail").per("tenant").rate("1/s"), &current);
        assert_eq!(limit.burst, 0, "the default burst for the new rate");
    }

    #[test]
    fn another_header_or_scope_is_not_merged() {
        let current = [info(None, 0, Some(5))];
        let limit = merged(Limit::queue("mail").rate("100/m"), &current);
        assert_eq!(
            limit.max_concurrency, None,
            "a limit without --per is another limit"
        );
    }
}
