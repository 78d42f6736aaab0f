//! `NatsBus`: the bus on a NATS server, with JetStream for durable streams. Used when the
//! platform runs as several processes (`NATS_URL` set).
//!
//! Owns the translation between our envelope and async-nats types and between
//! async-nats's error kinds and [`BusError`]. Core publish/subscribe/request map to the
//! client directly; `ensure_stream` is create-or-update, `publish_durable` waits for the
//! stream's publish ack, `consume` binds a durable pull consumer with explicit acks.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, ErrorCode, consumer, stream};
use async_nats::{HeaderMap, HeaderName, HeaderValue, client::RequestErrorKind};
use async_trait::async_trait;
use futures::StreamExt;
use tracing::Instrument;

use crate::durable::{
    AckAction, Acker, ConsumerConfig, DurableMessage, DurableSubscription, StreamConfig,
};
use crate::message::Headers;
use crate::subject::{self, validate_pattern};
use crate::{Bus, BusError, Message, Subscription};

const BACKEND: &str = "nats";

/// Connection name shown by the server (`nats server report connections`) when none is given.
pub const DEFAULT_CLIENT_NAME: &str = "platform";

/// The bus on a NATS server. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct NatsBus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl NatsBus {
    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`) as [`DEFAULT_CLIENT_NAME`].
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        Self::connect_named(url, DEFAULT_CLIENT_NAME).await
    }

    /// Connects to `url`, naming the connection `name` (the service or process name) so it
    /// can be told apart on the server.
    pub async fn connect_named(url: &str, name: &str) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connect(url)
            .await
            .map_err(|err| BusError::Backend {
                backend: BACKEND,
                // Not the URL: it may carry credentials.
                message: format!("connect: {err}"),
            })?;
        Ok(Self::from_client(client))
    }

    /// Wraps an existing client (custom auth, TLS, ...).
    pub fn from_client(client: async_nats::Client) -> Self {
        let jetstream = jetstream::new(client.clone());
        Self { client, jetstream }
    }

    /// The underlying client, for what the port does not cover.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

fn count_published() {
    metrics::counter!("bus_messages_total", "direction" => "published", "backend" => BACKEND)
        .increment(1);
}

/// Our headers as NATS headers. Names and values were validated by `prepare_outgoing`, so
/// the parse errors below are unreachable in practice; they are mapped, not unwrapped.
fn to_header_map(headers: &Headers) -> Result<HeaderMap, BusError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        let invalid = |reason| BusError::InvalidHeader {
            name: name.to_owned(),
            reason,
        };
        let name: HeaderName = name.parse().map_err(|_| invalid("invalid name"))?;
        let value: HeaderValue = value.parse().map_err(|_| invalid("invalid value"))?;
        map.insert(name, value);
    }
    Ok(map)
}

fn from_header_map(map: Option<&HeaderMap>) -> Headers {
    map.map(|map| {
        map.iter()
            .filter_map(|(name, values)| {
                // One value per name (see `Headers`): the last one wins, as it would on insert.
                let value = values.last()?;
                Some((name.to_string(), value.as_str().to_owned()))
            })
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn from_nats(msg: async_nats::Message) -> Message {
    Message {
        subject: msg.subject.to_string(),
        headers: from_header_map(msg.headers.as_ref()),
        payload: msg.payload,
        reply: msg.reply.map(|r| r.to_string()),
    }
}

pub(crate) async fn ack(
    acker: &jetstream::message::Acker,
    action: AckAction,
    confirm: bool,
) -> Result<(), BusError> {
    let kind = match action {
        AckAction::Ack => AckKind::Ack,
        AckAction::Nak(delay) if delay.is_zero() => AckKind::Nak(None),
        AckAction::Nak(delay) => AckKind::Nak(Some(delay)),
        AckAction::InProgress => AckKind::Progress,
        AckAction::Term => AckKind::Term,
    };
    let result = if confirm {
        acker.double_ack_with(kind).await
    } else {
        acker.ack_with(kind).await
    };
    result.map_err(BusError::nats)
}

fn is_jetstream_error(err: &jetstream::Error, code: ErrorCode) -> bool {
    err.error_code() == code
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, mut msg: Message) -> Result<(), BusError> {
        msg.prepare_outgoing()?;
        let headers = to_header_map(&msg.headers)?;
        let result = match msg.reply {
            Some(reply) => {
                self.client
                    .publish_with_reply_and_headers(msg.subject, reply, headers, msg.payload)
                    .await
            }
            None => {
                self.client
                    .publish_with_headers(msg.subject, headers, msg.payload)
                    .await
            }
        };
        result.map_err(BusError::nats)?;
        count_published();
        Ok(())
    }

    async fn subscribe(&self, subject_pattern: &str) -> Result<Subscription, BusError> {
        validate_pattern(subject_pattern)?;
        let subscriber = self
            .client
            .subscribe(subject_pattern.to_owned())
            .await
            .map_err(BusError::nats)?;
        Ok(Subscription::nats(subject_pattern, subscriber))
    }

    async fn queue_subscribe(
        &self,
        subject_pattern: &str,
        group: &str,
    ) -> Result<Subscription, BusError> {
        validate_pattern(subject_pattern)?;
        subject::validate_name("queue group", group)?;
        let subscriber = self
            .client
            .queue_subscribe(subject_pattern.to_owned(), group.to_owned())
            .await
            .map_err(BusError::nats)?;
        Ok(Subscription::nats(subject_pattern, subscriber))
    }

    async fn request(&self, mut msg: Message, timeout: Duration) -> Result<Message, BusError> {
        let span = tracing::debug_span!("bus.request", subject = %msg.subject, backend = BACKEND);
        async move {
            msg.prepare_outgoing()?;
            let request = async_nats::Request::new()
                .headers(to_header_map(&msg.headers)?)
                .payload(msg.payload)
                .timeout(Some(timeout));
            count_published();
            let response = self
                .client
                .send_request(msg.subject.clone(), request)
                .await
                .map_err(|err| match err.kind() {
                    RequestErrorKind::TimedOut => BusError::Timeout(timeout),
                    RequestErrorKind::NoResponders => BusError::NoResponders {
                        subject: msg.subject.clone(),
                    },
                    _ => BusError::nats(err),
                })?;
            metrics::counter!("bus_messages_total", "direction" => "delivered", "backend" => BACKEND)
                .increment(1);
            Ok(from_nats(response))
        }
        .instrument(span)
        .await
    }

    async fn ensure_stream(&self, config: StreamConfig) -> Result<(), BusError> {
        config.validate()?;
        let nats_config = stream::Config {
            name: config.name.clone(),
            subjects: config.subjects.clone(),
            max_age: config.effective_max_age().unwrap_or_default(),
            duplicate_window: config.effective_duplicate_window(),
            storage: stream::StorageType::File,
            ..Default::default()
        };
        self.jetstream
            .create_or_update_stream(nats_config)
            .await
            .map_err(|err| BusError::nats(format!("ensure stream {:?}: {err}", config.name)))?;
        Ok(())
    }

    async fn delete_stream(&self, name: &str) -> Result<bool, BusError> {
        subject::validate_name("stream name", name)?;
        match self.jetstream.delete_stream(name).await {
            Ok(status) => Ok(status.success),
            Err(err) => match err.kind() {
                jetstream::context::DeleteStreamErrorKind::JetStream(js)
                    if is_jetstream_error(&js, ErrorCode::STREAM_NOT_FOUND) =>
                {
                    Ok(false)
                }
                _ => Err(BusError::nats(err)),
            },
        }
    }

    async fn publish_durable(&self, mut msg: Message) -> Result<u64, BusError> {
        let span =
            tracing::debug_span!("bus.publish_durable", subject = %msg.subject, backend = BACKEND);
        async move {
            msg.prepare_outgoing()?;
            let headers = to_header_map(&msg.headers)?;
            let map_err = |err: jetstream::context::PublishError| match err.kind() {
                jetstream::context::PublishErrorKind::StreamNotFound => BusError::NoStream {
                    subject: msg.subject.clone(),
                },
                _ => BusError::nats(err),
            };
            let ack = self
                .jetstream
                .publish_with_headers(msg.subject.clone(), headers, msg.payload.clone())
                .await
                .map_err(map_err)?
                .await
                .map_err(map_err)?;
            count_published();
            Ok(ack.sequence)
        }
        .instrument(span)
        .await
    }

    async fn consume(&self, config: ConsumerConfig) -> Result<DurableSubscription, BusError> {
        let filter = config.validate()?;
        let pull_config = consumer::pull::Config {
            durable_name: Some(config.durable_name.clone()),
            filter_subject: filter.map(|f| f.as_str().to_owned()).unwrap_or_default(),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            max_deliver: config.max_deliver.unwrap_or(-1),
            ..Default::default()
        };
        let consumer: consumer::PullConsumer = self
            .jetstream
            .create_consumer_on_stream(pull_config, config.stream.as_str())
            .await
            .map_err(|err| match err.kind() {
                stream::ConsumerErrorKind::JetStream(js)
                    if is_jetstream_error(&js, ErrorCode::STREAM_NOT_FOUND) =>
                {
                    BusError::StreamNotFound {
                        stream: config.stream.clone(),
                    }
                }
                _ => BusError::nats(err),
            })?;
        let messages = consumer.messages().await.map_err(BusError::nats)?;
        let deliveries = messages.map(|item| {
            let msg = item.map_err(|err| match err.kind() {
                consumer::pull::MessagesErrorKind::ConsumerDeleted => BusError::ConsumerDeleted,
                _ => BusError::nats(err),
            })?;
            let info = msg.info().map_err(BusError::nats)?;
            let (stream_sequence, delivered) = (info.stream_sequence, u64::try_from(info.delivered).unwrap_or(0));
            let (message, acker) = msg.split();
            metrics::counter!("bus_messages_total", "direction" => "delivered", "backend" => BACKEND)
                .increment(1);
            Ok(DurableMessage::new(
                from_nats(message),
                stream_sequence,
                delivered,
                Acker::Nats(Box::new(acker)),
            ))
        });
        Ok(DurableSubscription::new(&config, deliveries.boxed()))
    }

    async fn health(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Backend {
                backend: BACKEND,
                message: format!("connection {state:?}"),
            }),
        }
    }

    async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|err| BusError::Backend {
            backend: BACKEND,
            message: err.to_string(),
        })
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_nats_types() {
        let mut headers = Headers::new();
        headers.insert("Nats-Msg-Id", "id-1");
        headers.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        headers.insert("x-custom", "v");
        let map = to_header_map(&headers).unwrap();
        assert_eq!(from_header_map(Some(&map)), headers);
        assert_eq!(from_header_map(None), Headers::new());
    }
}
