//! Map tasks (`stalk.v1.Map`): a task with the header `stalk-map: map` or `starmap` runs its
//! handler once per item of its payload (a JSON array), in order, in one attempt; the result is
//! the list of the results, and the first failure fails the task.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::context::{TaskContext, TaskMeta};
use crate::error::TaskError;
use crate::registry::Handler;

/// The header that asks for it, and its values.
pub(crate) const MAP_HEADER: &str = "stalk-map";

/// How a map task calls its handler per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    /// The item is the one argument: the handler gets `[item]`.
    Map,
    /// The item is the list of arguments: the handler gets it.
    Star,
}

/// `handler` as the task `meta` asks to run it: per item when it carries the map header.
///
/// # Errors
/// A header value this worker does not know is a fatal `MapError`, as the handler would be
/// run wrongly otherwise.
pub(crate) fn for_task(handler: Handler, meta: &TaskMeta) -> Result<Handler, TaskError> {
    let mapping = match meta.headers.get(MAP_HEADER).map(String::as_str) {
        None => return Ok(handler),
        Some("map") => Mapping::Map,
        Some("starmap") => Mapping::Star,
        Some(other) => {
            return Err(TaskError::fatal(
                "MapError",
                format!("the {MAP_HEADER} header is {other:?}; this worker knows map and starmap"),
            ))
        }
    };
    Ok(match handler {
        Handler::Async(inner) => Handler::Async(Arc::new(move |payload, ctx| {
            let inner = inner.clone();
            Box::pin(async move {
                let mut results = Vec::new();
                for item in items(&payload, mapping)? {
                    results.push(inner(item, ctx.clone()).await?);
                }
                Ok(list(&results))
            })
        })),
        Handler::Blocking(inner) => {
            Handler::Blocking(Arc::new(move |payload, ctx: TaskContext| {
                let mut results = Vec::new();
                for item in items(&payload, mapping)? {
                    results.push(inner(item, ctx.clone())?);
                }
                Ok(list(&results))
            }))
        }
    })
}

/// Each item's payload for the handler.
fn items(payload: &[u8], mapping: Mapping) -> Result<Vec<Bytes>, TaskError> {
    let items: Vec<&RawValue> = serde_json::from_slice(payload).map_err(|e| {
        TaskError::fatal(
            "PayloadError",
            format!("a map task's payload is a JSON array of items: {e}"),
        )
    })?;
    Ok(items
        .into_iter()
        .map(|item| match mapping {
            Mapping::Map => Bytes::from(format!("[{}]", item.get())),
            Mapping::Star => Bytes::copy_from_slice(item.get().as_bytes()),
        })
        .collect())
}

/// The results (each JSON) as one JSON array.
fn list(results: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, result) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(result);
    }
    out.push(b']');
    out
}
