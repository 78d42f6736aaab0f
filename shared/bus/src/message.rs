//! The message envelope every backend carries: subject, headers, payload, reply subject.
//!
//! Owns the rules applied to every outgoing message (subject and header validation, a
//! message id, trace context), so both backends put the same bytes on the wire. It knows
//! nothing about how a message travels.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BusError, subject};

/// Header carrying the message id. JetStream dedupes on exactly this name, so using it for
/// our ids gives NATS-native dedupe for free.
pub const MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";

/// W3C trace context header, written by `telemetry::propagation`.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// Message headers: an ordered string map.
///
/// One value per name: NATS allows repeats, but nothing here needs them and a map keeps
/// lookups and equality simple. Names are case-sensitive, as on the NATS wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// An empty header map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(name.into(), value.into())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Headers in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Refuses names and values that cannot be written as NATS headers (same rules as
    /// async-nats, which would otherwise panic on them).
    pub(crate) fn validate(&self) -> Result<(), BusError> {
        for (name, value) in &self.0 {
            let reason = if name.is_empty() {
                Some("empty name")
            } else if name.contains(|c: char| !c.is_ascii_graphic() || c == ':') {
                Some("name must be printable ASCII without `:`")
            } else if value.contains(['\r', '\n']) {
                Some("value must not contain CR or LF")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(BusError::InvalidHeader {
                    name: name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

impl FromIterator<(String, String)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Headers {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl telemetry::propagation::Injector for Headers {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl telemetry::propagation::Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        Headers::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// One message on the bus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Where it is published (a literal subject, no wildcards).
    pub subject: String,
    /// Headers, including the message id and trace context once published.
    pub headers: Headers,
    /// Opaque body; JSON by convention (see [`Message::json`]).
    pub payload: Bytes,
    /// Where a responder should send the answer, set on requests.
    pub reply: Option<String>,
}

impl Message {
    /// A message with no headers and no reply subject.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            subject: subject.into(),
            headers: Headers::new(),
            payload: payload.into(),
            reply: None,
        }
    }

    /// A message whose payload is `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(
        subject: impl Into<String>,
        value: &T,
    ) -> Result<Self, BusError> {
        Ok(Self::new(subject, serde_json::to_vec(value)?))
    }

    /// The payload parsed as JSON.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, BusError> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// Sets a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the message id, which JetStream (and the local streams) dedupe on within a
    /// stream's duplicate window. Use a business key (an event id, an idempotency key) to
    /// make a retried durable publish harmless.
    #[must_use]
    pub fn with_id(self, id: impl Into<String>) -> Self {
        self.with_header(MESSAGE_ID_HEADER, id)
    }

    /// The message id; every published message has one.
    pub fn id(&self) -> Option<&str> {
        self.headers.get(MESSAGE_ID_HEADER)
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The response to this request: a message addressed to its reply subject.
    pub fn response(&self, payload: impl Into<Bytes>) -> Result<Message, BusError> {
        let reply = self
            .reply
            .as_ref()
            .ok_or_else(|| BusError::NoReplySubject {
                subject: self.subject.clone(),
            })?;
        Ok(Message::new(reply.clone(), payload))
    }

    /// The response to this request with `value` as JSON.
    pub fn response_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<Message, BusError> {
        self.response(serde_json::to_vec(value)?)
    }

    /// A span for handling this delivery, child of the trace context the message carries.
    ///
    /// Not created automatically: a span per message costs, and only the handler knows how
    /// long the handling lasts. Use as `handle(msg).instrument(msg.delivery_span())`.
    pub fn delivery_span(&self) -> tracing::Span {
        let span = tracing::info_span!("bus.deliver", subject = %self.subject);
        telemetry::propagation::set_parent_from(&span, &self.headers);
        span
    }

    /// Applies the rules every outgoing message follows, whatever the backend: valid
    /// subject and headers, a message id, the caller's trace context.
    pub(crate) fn prepare_outgoing(&mut self) -> Result<(), BusError> {
        subject::validate_subject(&self.subject)?;
        self.headers.validate()?;
        if !self.headers.contains(MESSAGE_ID_HEADER) {
            self.headers.insert(MESSAGE_ID_HEADER, next_message_id());
        }
        if !self.headers.contains(TRACEPARENT_HEADER) {
            telemetry::propagation::inject_current(&mut self.headers);
        }
        Ok(())
    }
}

/// A fresh, globally unique message id: a random per-process prefix plus a counter (the
/// NUID idea NATS clients use). Not a uuid per message: uuid's generators read the OS
/// random source on every call, about 0.5 us here, which was most of a local publish.
fn next_message_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}.{n:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Ping {
        n: u32,
    }

    #[test]
    fn json_round_trip() {
        let msg = Message::json("a.b", &Ping { n: 7 }).unwrap();
        assert_eq!(msg.decode::<Ping>().unwrap(), Ping { n: 7 });
        assert!(matches!(
            Message::new("a", "nope").decode::<Ping>(),
            Err(BusError::Codec(_))
        ));
    }

    #[test]
    fn prepare_sets_an_id_once_and_keeps_a_given_one() {
        let mut msg = Message::new("a.b", "x");
        msg.prepare_outgoing().unwrap();
        let id = msg.id().unwrap().to_owned();
        msg.prepare_outgoing().unwrap();
        assert_eq!(msg.id(), Some(id.as_str()));

        let mut other = Message::new("a.b", "x");
        other.prepare_outgoing().unwrap();
        assert_ne!(other.id(), Some(id.as_str()), "ids are unique");

        let mut given = Message::new("a.b", "x").with_id("order-1");
        given.prepare_outgoing().unwrap();
        assert_eq!(given.id(), Some("order-1"));
    }

    #[test]
    fn prepare_rejects_bad_subjects_and_headers() {
        assert!(Message::new("a.*", "").prepare_outgoing().is_err());
        assert!(Message::new("", "").prepare_outgoing().is_err());
        for (name, value) in [("a b", "v"), ("a:b", "v"), ("", "v"), ("ok", "line\nbreak")] {
            let err = Message::new("a", "")
                .with_header(name, value)
                .prepare_outgoing();
            assert!(
                matches!(err, Err(BusError::InvalidHeader { .. })),
                "{name:?}={value:?}"
            );
        }
    }

    #[test]
    fn response_is_addressed_to_reply() {
        let mut req = Message::new("svc.v1.ping", "");
        assert!(matches!(
            req.response("x"),
            Err(BusError::NoReplySubject { .. })
        ));
        req.reply = Some("_INBOX.1".into());
        let resp = req.response_json(&Ping { n: 1 }).unwrap();
        assert_eq!(resp.subject, "_INBOX.1");
        assert_eq!(resp.reply, None);
    }

    #[test]
    fn headers_are_a_propagation_carrier() {
        use telemetry::propagation::{Extractor, Injector};
        let mut headers = Headers::new();
        headers.set("traceparent", "00-abc-def-01".into());
        assert_eq!(
            Extractor::get(&headers, "traceparent"),
            Some("00-abc-def-01")
        );
        assert_eq!(headers.keys(), vec!["traceparent"]);
    }
}
