#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The bus conformance suite: one set of behaviours, written once, run unchanged against
//! `LocalBus` (always) and `NatsBus` (ignored unless asked for; needs `TEST_NATS_URL`).
//!
//! Each case gets a fresh bus and a unique subject prefix and stream names, so cases run in
//! parallel and repeat against one NATS server without seeing each other; streams a case
//! creates are deleted at its end, even when it fails. Nothing waits with `sleep`: cases
//! wait on the streams themselves with a bounded timeout, and "nothing more arrives" is a
//! short bounded wait.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus::{BusError, ConsumerConfig, DynBus, LocalBus, Message, NatsBus, StreamConfig};
use futures::{Stream, StreamExt};
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Upper bound for anything expected to arrive.
const ARRIVES_WITHIN: Duration = Duration::from_secs(5);
/// How long to watch to conclude that nothing (more) arrives.
const QUIET: Duration = Duration::from_millis(250);
/// Short enough to see redeliveries quickly, long enough not to fire while a case runs.
const ACK_WAIT: Duration = Duration::from_millis(400);

struct Harness {
    bus: DynBus,
    id: String,
    streams: Mutex<Vec<String>>,
    runtime: tokio::runtime::Handle,
}

impl Harness {
    fn new(bus: DynBus) -> Self {
        Self {
            bus,
            id: uuid::Uuid::new_v4().simple().to_string(),
            streams: Mutex::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn local() -> Self {
        Self::new(Arc::new(LocalBus::new()))
    }

    async fn nats() -> Self {
        let url = std::env::var("TEST_NATS_URL")
            .expect("NATS conformance tests need TEST_NATS_URL (e.g. nats://127.0.0.1:4222)");
        let bus = NatsBus::connect_named(&url, "bus-conformance")
            .await
            .expect("connect to TEST_NATS_URL");
        Self::new(Arc::new(bus))
    }

    /// A subject under this case's private prefix.
    fn subject(&self, rest: &str) -> String {
        format!("t{}.{rest}", self.id)
    }

    /// Creates a stream private to this case, deleted when the case ends.
    async fn stream(&self, suffix: &str, subjects: &[&str]) -> String {
        let name = format!("T{}_{suffix}", self.id);
        let subjects: Vec<String> = subjects.iter().map(|s| self.subject(s)).collect();
        let config =
            StreamConfig::new(name.clone(), subjects).with_max_age(Duration::from_secs(600));
        self.streams.lock().unwrap().push(name.clone());
        self.bus.ensure_stream(config.clone()).await.unwrap();
        // Idempotent: a second identical call is fine.
        self.bus.ensure_stream(config).await.unwrap();
        name
    }

    async fn cleanup(&self) {
        let streams = std::mem::take(&mut *self.streams.lock().unwrap());
        for name in streams {
            assert!(
                self.bus.delete_stream(&name).await.unwrap(),
                "stream {name} existed"
            );
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A failed case never reaches `cleanup`: delete its streams from a helper thread,
        // because this thread is inside the runtime and may not block on it.
        let streams = std::mem::take(&mut *self.streams.lock().unwrap_or_else(|e| e.into_inner()));
        if streams.is_empty() {
            return;
        }
        let (bus, runtime) = (Arc::clone(&self.bus), self.runtime.clone());
        let _ = std::thread::spawn(move || {
            runtime.block_on(async {
                for name in streams {
                    let _ = tokio::time::timeout(Duration::from_secs(2), bus.delete_stream(&name))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(ARRIVES_WITHIN, stream.next())
        .await
        .expect("nothing arrived in time")
        .expect("stream ended")
}

async fn assert_quiet<S: Stream + Unpin>(stream: &mut S, quiet: Duration)
where
    S::Item: std::fmt::Debug,
{
    if let Ok(item) = tokio::time::timeout(quiet, stream.next()).await {
        panic!("expected nothing, got {item:?}");
    }
}

fn text(msg: &Message) -> &str {
    std::str::from_utf8(&msg.payload).unwrap()
}

// ---------------------------------------------------------------------------------------
// Core publish / subscribe.

/// `*` matches exactly one token. Non-matching messages are published first: had any
/// matched, it would arrive before the matching ones (per-publisher order).
async fn star_matches_exactly_one_token(h: &Harness) {
    let mut sub = h.bus.subscribe(&h.subject("a.*")).await.unwrap();
    for rest in ["a", "a.b.c", "b.x", "a.b", "a.c"] {
        h.bus
            .publish(Message::new(h.subject(rest), rest))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut sub).await.subject, h.subject("a.b"));
    assert_eq!(next(&mut sub).await.subject, h.subject("a.c"));
    assert_quiet(&mut sub, QUIET).await;
}

/// `>` matches one or more trailing tokens, never the bare prefix.
async fn tail_matches_trailing_tokens_not_the_prefix(h: &Harness) {
    let mut sub = h.bus.subscribe(&h.subject("a.>")).await.unwrap();
    for rest in ["a", "b.a", "a.b", "a.b.c.d"] {
        h.bus
            .publish(Message::new(h.subject(rest), rest))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut sub).await.subject, h.subject("a.b"));
    assert_eq!(next(&mut sub).await.subject, h.subject("a.b.c.d"));
    assert_quiet(&mut sub, QUIET).await;
}

async fn every_plain_subscriber_gets_a_copy(h: &Harness) {
    let subject = h.subject("news");
    let mut first = h.bus.subscribe(&subject).await.unwrap();
    let mut second = h.bus.subscribe(&subject).await.unwrap();
    let mut wildcard = h.bus.subscribe(&h.subject("*")).await.unwrap();
    h.bus
        .publish(Message::new(subject.clone(), "hello"))
        .await
        .unwrap();
    for sub in [&mut first, &mut second, &mut wildcard] {
        let msg = next(sub).await;
        assert_eq!(msg.subject, subject);
        assert_eq!(text(&msg), "hello");
    }
    assert_eq!(first.subject(), subject);
}

async fn queue_group_delivers_each_message_to_exactly_one_member(h: &Harness) {
    const N: usize = 90;
    let subject = h.subject("work");
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(h.bus.queue_subscribe(&subject, "workers").await.unwrap());
    }
    let mut observer = h.bus.subscribe(&subject).await.unwrap();
    let mut merged = futures::stream::select_all(
        members
            .into_iter()
            .enumerate()
            .map(|(member, sub)| sub.map(move |msg| (member, msg)).boxed()),
    );
    for i in 0..N {
        h.bus
            .publish(Message::new(subject.clone(), i.to_string()))
            .await
            .unwrap();
    }

    let mut seen = BTreeMap::new();
    let mut per_member = [0usize; 3];
    for _ in 0..N {
        let (member, msg) = next(&mut merged).await;
        per_member[member] += 1;
        *seen
            .entry(text(&msg).parse::<usize>().unwrap())
            .or_insert(0) += 1;
    }
    assert_quiet(&mut merged, QUIET).await;
    assert_eq!(seen.len(), N, "every message delivered");
    assert!(
        seen.values().all(|&n| n == 1),
        "no message delivered twice: {seen:?}"
    );
    assert!(
        per_member.iter().filter(|&&n| n > 0).count() >= 2,
        "work is spread over the group: {per_member:?}"
    );
    // Plain subscribers are independent of queue groups.
    for _ in 0..N {
        next(&mut observer).await;
    }
}

async fn dropping_a_subscription_unsubscribes(h: &Harness) {
    let subject = h.subject("gone");
    let sub = h.bus.subscribe(&subject).await.unwrap();
    drop(sub);
    let err = h
        .bus
        .request(Message::new(subject, ""), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NoResponders { .. }), "{err:?}");
}

async fn invalid_subjects_are_rejected(h: &Harness) {
    for bad in [
        h.subject("a.*"),
        h.subject("a.>"),
        h.subject("a..b"),
        String::new(),
        "a b".into(),
    ] {
        let err = h
            .bus
            .publish(Message::new(bad.clone(), ""))
            .await
            .unwrap_err();
        assert!(
            matches!(err, BusError::InvalidSubject { .. }),
            "{bad:?}: {err:?}"
        );
    }
    for bad in [h.subject("a..b"), h.subject(">.a"), h.subject("a*")] {
        let err = h.bus.subscribe(&bad).await.unwrap_err();
        assert!(
            matches!(err, BusError::InvalidSubject { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let err = h
        .bus
        .publish(Message::new(h.subject("x"), "").with_header("bad name", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::InvalidHeader { .. }), "{err:?}");
}

async fn headers_round_trip(h: &Harness) {
    let subject = h.subject("headers");
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut sub = h.bus.subscribe(&subject).await.unwrap();
    h.bus
        .publish(
            Message::new(subject.clone(), "x")
                .with_header("x-custom", "value 1")
                .with_header(bus::TRACEPARENT_HEADER, traceparent)
                .with_id("msg-1"),
        )
        .await
        .unwrap();
    h.bus
        .publish(Message::new(subject.clone(), "y"))
        .await
        .unwrap();

    let first = next(&mut sub).await;
    assert_eq!(first.header("x-custom"), Some("value 1"));
    assert_eq!(first.id(), Some("msg-1"));
    assert_eq!(first.header(bus::MESSAGE_ID_HEADER), Some("msg-1"));
    assert_eq!(
        first.header("traceparent"),
        Some(traceparent),
        "a given trace context is kept"
    );
    let second = next(&mut sub).await;
    let generated = second.id().expect("publishing sets a message id");
    assert!(!generated.is_empty());
    assert_ne!(generated, "msg-1");
}

/// Publishing inside a span puts that span's trace context on the message, and the
/// receiver's delivery span joins the same trace.
async fn trace_context_rides_every_message(h: &Harness) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bus-conformance")));
    // This thread drives the case (block_on), so a thread-local default suffices.
    let _default = tracing::subscriber::set_default(subscriber);

    let span = tracing::info_span!("conformance.publish");
    let trace_id = span.context().span().span_context().trace_id().to_string();
    assert_ne!(trace_id, "00000000000000000000000000000000");

    let subject = h.subject("traced");
    let mut sub = h.bus.subscribe(&subject).await.unwrap();
    h.bus
        .publish(Message::new(subject.clone(), "x"))
        .instrument(span.clone())
        .await
        .unwrap();
    let msg = next(&mut sub).await;
    let traceparent = msg
        .header(bus::TRACEPARENT_HEADER)
        .expect("traceparent injected");
    assert!(
        traceparent.contains(&trace_id),
        "{traceparent} carries {trace_id}"
    );
    let delivery = msg.delivery_span();
    assert_eq!(
        delivery
            .context()
            .span()
            .span_context()
            .trace_id()
            .to_string(),
        trace_id
    );

    // Requests carry it too.
    let service = h.subject("traced-service");
    let mut responder = h.bus.subscribe(&service).await.unwrap();
    let bus = Arc::clone(&h.bus);
    let answer = tokio::spawn(async move {
        let req = next(&mut responder).await;
        let traceparent = req.header(bus::TRACEPARENT_HEADER).map(str::to_owned);
        bus.reply(&req, Message::new(String::new(), "ok"))
            .await
            .unwrap();
        traceparent
    });
    h.bus
        .request(Message::new(service, ""), ARRIVES_WITHIN)
        .instrument(span)
        .await
        .unwrap();
    let seen = answer.await.unwrap().expect("request carries traceparent");
    assert!(seen.contains(&trace_id));
}

// ---------------------------------------------------------------------------------------
// Request / reply.

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

async fn request_reply_round_trip(h: &Harness) {
    let subject = h.subject("math.add");
    let mut requests = h.bus.subscribe(&subject).await.unwrap();
    let bus = Arc::clone(&h.bus);
    let responder = tokio::spawn(async move {
        while let Some(req) = requests.next().await {
            let add: Add = req.decode().unwrap();
            let response = req
                .response_json(&(add.a + add.b))
                .unwrap()
                .with_header("x-echo", req.header("x-custom").unwrap_or_default());
            bus.publish(response).await.unwrap();
        }
    });
    for i in 0..5 {
        let request = Message::json(subject.clone(), &Add { a: i, b: 40 })
            .unwrap()
            .with_header("x-custom", format!("req-{i}"));
        let response = h.bus.request(request, ARRIVES_WITHIN).await.unwrap();
        assert_eq!(response.decode::<i64>().unwrap(), i + 40);
        assert_eq!(response.header("x-echo"), Some(format!("req-{i}").as_str()));
    }
    responder.abort();
}

async fn reply_answers_through_the_bus(h: &Harness) {
    let subject = h.subject("ping");
    let mut requests = h.bus.subscribe(&subject).await.unwrap();
    let bus = Arc::clone(&h.bus);
    let responder = tokio::spawn(async move {
        let req = next(&mut requests).await;
        bus.reply(&req, Message::new(String::new(), "pong"))
            .await
            .unwrap();
        // A message without a reply subject cannot be answered.
        let err = bus
            .reply(&Message::new("x", ""), Message::new(String::new(), ""))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::NoReplySubject { .. }));
    });
    let response = h
        .bus
        .request(Message::new(subject, "ping"), ARRIVES_WITHIN)
        .await
        .unwrap();
    assert_eq!(text(&response), "pong");
    responder.await.unwrap();
}

async fn request_times_out_when_the_responder_is_silent(h: &Harness) {
    let subject = h.subject("silent");
    let _silent = h.bus.subscribe(&subject).await.unwrap();
    let timeout = Duration::from_millis(300);
    let started = tokio::time::Instant::now();
    let result = tokio::time::timeout(
        ARRIVES_WITHIN,
        h.bus.request(Message::new(subject, ""), timeout),
    )
    .await
    .expect("request must not hang past its timeout");
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(BusError::Timeout(_))), "{result:?}");
    assert!(
        elapsed >= Duration::from_millis(250),
        "timed out too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "timed out too late: {elapsed:?}"
    );
}

async fn request_without_responders_fails_fast(h: &Harness) {
    let started = tokio::time::Instant::now();
    let result = tokio::time::timeout(
        ARRIVES_WITHIN,
        h.bus.request(
            Message::new(h.subject("nobody"), ""),
            Duration::from_secs(30),
        ),
    )
    .await
    .expect("no responders must not hang");
    assert!(
        matches!(result, Err(BusError::NoResponders { .. })),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Durable streams and consumers.

async fn publish_durable_sequences_increase_and_dedupe(h: &Harness) {
    h.stream("ORDERS", &["orders.>"]).await;
    let mut sequences = Vec::new();
    for i in 0..3 {
        let msg = Message::new(h.subject(&format!("orders.{i}")), "x");
        sequences.push(h.bus.publish_durable(msg).await.unwrap());
    }
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    let original = h
        .bus
        .publish_durable(Message::new(h.subject("orders.dup"), "first").with_id("order-7"))
        .await
        .unwrap();
    let repeated = h
        .bus
        .publish_durable(Message::new(h.subject("orders.dup"), "second").with_id("order-7"))
        .await
        .unwrap();
    assert_eq!(
        original, repeated,
        "a repeated id answers with the original sequence"
    );
    let after = h
        .bus
        .publish_durable(Message::new(h.subject("orders.9"), "x"))
        .await
        .unwrap();
    assert_eq!(after, original + 1, "the duplicate was not stored");

    // The duplicate is not delivered either.
    let stream = format!("T{}_ORDERS", h.id);
    let mut consumer = h
        .bus
        .consume(ConsumerConfig::new(stream, "all").with_ack_wait(ACK_WAIT))
        .await
        .unwrap();
    let mut payloads = Vec::new();
    for _ in 0..5 {
        let delivery = next(&mut consumer).await.unwrap();
        payloads.push(text(&delivery.message).to_owned());
        delivery.ack().await.unwrap();
    }
    assert_eq!(payloads, ["x", "x", "x", "first", "x"]);
}

async fn publish_durable_without_a_stream_fails(h: &Harness) {
    let err = h
        .bus
        .publish_durable(Message::new(h.subject("unstored"), "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NoStream { .. }), "{err:?}");
    let err = h
        .bus
        .consume(ConsumerConfig::new(format!("T{}_MISSING", h.id), "c"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::StreamNotFound { .. }), "{err:?}");
    assert!(
        !h.bus
            .delete_stream(&format!("T{}_MISSING", h.id))
            .await
            .unwrap()
    );
}

async fn durable_publish_also_reaches_live_subscribers(h: &Harness) {
    h.stream("LIVE", &["live.>"]).await;
    let mut live = h.bus.subscribe(&h.subject("live.*")).await.unwrap();
    h.bus
        .publish_durable(Message::new(h.subject("live.score"), "4"))
        .await
        .unwrap();
    let msg = next(&mut live).await;
    assert_eq!(msg.subject, h.subject("live.score"));
    assert_eq!(text(&msg), "4");
}

async fn consumer_receives_in_order_and_acked_messages_stay_acked(h: &Harness) {
    let stream = h.stream("ACKED", &["jobs.>"]).await;
    let mut published = Vec::new();
    for i in 0..3 {
        let seq = h
            .bus
            .publish_durable(Message::new(h.subject("jobs.run"), format!("job-{i}")))
            .await
            .unwrap();
        published.push(seq);
    }
    let config = ConsumerConfig::new(stream, "worker").with_ack_wait(ACK_WAIT);
    let mut consumer = h.bus.consume(config.clone()).await.unwrap();
    assert_eq!(consumer.durable_name(), "worker");
    for (i, seq) in published.iter().enumerate() {
        let delivery = next(&mut consumer).await.unwrap();
        assert_eq!(text(&delivery.message), format!("job-{i}"));
        assert_eq!(delivery.message.subject, h.subject("jobs.run"));
        assert_eq!(delivery.stream_sequence, *seq);
        assert_eq!(delivery.delivered, 1);
        delivery.ack_confirmed().await.unwrap();
    }
    // Past `ack_wait`: acked messages do not come back, to this consumer...
    assert_quiet(&mut consumer, ACK_WAIT * 2).await;
    drop(consumer);
    // ...nor to the next one under the same durable name, which resumes after them.
    let mut resumed = h.bus.consume(config).await.unwrap();
    let seq = h
        .bus
        .publish_durable(Message::new(h.subject("jobs.run"), "job-3"))
        .await
        .unwrap();
    let delivery = next(&mut resumed).await.unwrap();
    assert_eq!(text(&delivery.message), "job-3");
    assert_eq!(delivery.stream_sequence, seq);
    delivery.ack().await.unwrap();
    assert_quiet(&mut resumed, ACK_WAIT * 2).await;
}

async fn unacked_message_is_redelivered_to_the_next_consumer(h: &Harness) {
    let stream = h.stream("REDELIVER", &["tasks.>"]).await;
    h.bus
        .publish_durable(Message::new(h.subject("tasks.a"), "acked"))
        .await
        .unwrap();
    let unacked_seq = h
        .bus
        .publish_durable(Message::new(h.subject("tasks.b"), "forgotten"))
        .await
        .unwrap();
    let config = ConsumerConfig::new(stream, "crashy").with_ack_wait(ACK_WAIT);

    let mut first = h.bus.consume(config.clone()).await.unwrap();
    let acked = next(&mut first).await.unwrap();
    assert_eq!(text(&acked.message), "acked");
    acked.ack_confirmed().await.unwrap();
    let forgotten = next(&mut first).await.unwrap();
    assert_eq!(text(&forgotten.message), "forgotten");
    // The consumer "crashes" without acking.
    drop(forgotten);
    drop(first);

    let mut second = h.bus.consume(config).await.unwrap();
    let again = next(&mut second).await.unwrap();
    assert_eq!(text(&again.message), "forgotten");
    assert_eq!(again.stream_sequence, unacked_seq);
    assert_eq!(again.delivered, 2);
    again.ack_confirmed().await.unwrap();
    assert_quiet(&mut second, ACK_WAIT * 2).await;
}

async fn nak_redelivers_and_term_stops_redelivery(h: &Harness) {
    let stream = h.stream("NAK", &["mail.>"]).await;
    h.bus
        .publish_durable(Message::new(h.subject("mail.send"), "m"))
        .await
        .unwrap();
    // A long ack_wait: the redelivery seen below can only come from the nak.
    let mut consumer = h
        .bus
        .consume(
            ConsumerConfig::new(stream.clone(), "mailer").with_ack_wait(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let first = next(&mut consumer).await.unwrap();
    assert_eq!(first.delivered, 1);
    first.nak().await.unwrap();
    let second = next(&mut consumer).await.unwrap();
    assert_eq!(second.stream_sequence, first.stream_sequence);
    assert_eq!(second.delivered, 2);
    second.term().await.unwrap();
    drop(consumer);

    // Terminated: not even a consumer with a short ack_wait sees it again.
    let mut short = h
        .bus
        .consume(ConsumerConfig::new(stream, "mailer").with_ack_wait(ACK_WAIT))
        .await
        .unwrap();
    assert_quiet(&mut short, ACK_WAIT * 2).await;
}

async fn filtered_consumer_sees_only_its_subjects(h: &Harness) {
    let stream = h.stream("EVENTS", &["ev.>"]).await;
    for (rest, body) in [("ev.a", "a1"), ("ev.b", "b1"), ("ev.a", "a2")] {
        h.bus
            .publish_durable(Message::new(h.subject(rest), body))
            .await
            .unwrap();
    }
    let mut consumer = h
        .bus
        .consume(
            ConsumerConfig::new(stream, "only-a")
                .with_filter_subject(h.subject("ev.a"))
                .with_ack_wait(ACK_WAIT),
        )
        .await
        .unwrap();
    for expected in ["a1", "a2"] {
        let delivery = next(&mut consumer).await.unwrap();
        assert_eq!(text(&delivery.message), expected);
        delivery.ack().await.unwrap();
    }
    assert_quiet(&mut consumer, QUIET).await;
}

async fn health_and_backend_name(h: &Harness) {
    h.bus.health().await.unwrap();
    assert!(["local", "nats"].contains(&h.bus.backend()));
}

// ---------------------------------------------------------------------------------------
// Instantiation: every case above, once per backend.

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = super::Harness::local();
                    assert_eq!(h.bus.backend(), "local");
                    super::$case(&h).await;
                    h.cleanup().await;
                }
            )*
        }

        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs NATS: set TEST_NATS_URL"]
                async fn $case() {
                    let h = super::Harness::nats().await;
                    assert_eq!(h.bus.backend(), "nats");
                    super::$case(&h).await;
                    h.cleanup().await;
                }
            )*
        }
    };
}

conformance!(
    star_matches_exactly_one_token,
    tail_matches_trailing_tokens_not_the_prefix,
    every_plain_subscriber_gets_a_copy,
    queue_group_delivers_each_message_to_exactly_one_member,
    dropping_a_subscription_unsubscribes,
    invalid_subjects_are_rejected,
    headers_round_trip,
    trace_context_rides_every_message,
    request_reply_round_trip,
    reply_answers_through_the_bus,
    request_times_out_when_the_responder_is_silent,
    request_without_responders_fails_fast,
    publish_durable_sequences_increase_and_dedupe,
    publish_durable_without_a_stream_fails,
    durable_publish_also_reaches_live_subscribers,
    consumer_receives_in_order_and_acked_messages_stay_acked,
    unacked_message_is_redelivered_to_the_next_consumer,
    nak_redelivers_and_term_stops_redelivery,
    filtered_consumer_sees_only_its_subjects,
    health_and_backend_name,
);
