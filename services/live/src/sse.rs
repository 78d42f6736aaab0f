//! The SSE wire form of the live feed: `snapshot`, `event` and `resync` frames. The hub
//! encodes each update's frame once for all its viewers; the stream writes the rest.

use crate::feed::{MatchView, Update};
use actix_web::web::Bytes;
use serde::Serialize;

/// A match as it stands, as the `snapshot` that opens a stream.
pub(crate) fn snapshot_frame(view: &MatchView) -> Bytes {
    frame("snapshot", Some(view.seq), view)
}

/// An update as an SSE `event`, its seq as the `id`.
pub(crate) fn event_frame(update: &Update) -> Bytes {
    frame("event", Some(update.seq), update)
}

/// One SSE event. JSON from serde_json has no raw newlines, so `data` is one line.
pub(crate) fn frame<T: Serialize>(event: &str, id: Option<i64>, data: &T) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|error| {
        tracing::warn!(%error, "sse data not encodable");
        "null".to_owned()
    });
    let mut text = String::with_capacity(data.len() + 48);
    text.push_str("event: ");
    text.push_str(event);
    text.push('\n');
    if let Some(id) = id {
        text.push_str("id: ");
        text.push_str(&id.to_string());
        text.push('\n');
    }
    text.push_str("data: ");
    text.push_str(&data);
    text.push_str("\n\n");
    Bytes::from(text)
}
