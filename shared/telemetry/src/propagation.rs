//! W3C trace context (`traceparent`, `tracestate`) in and out of message headers.
//!
//! HTTP and bus transports both carry headers; each implements opentelemetry's
//! [`Injector`] / [`Extractor`] for its own header type and calls these helpers, so one
//! trace can follow a request across HTTP, the bus and actors.

use opentelemetry::Context;
pub use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the current span's trace context into `carrier`.
pub fn inject_current(carrier: &mut dyn Injector) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, carrier);
    });
}

/// Reads a remote trace context out of `carrier` (empty when there is none).
pub fn extract(carrier: &dyn Extractor) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier))
}

/// Makes `span` a child of the trace context found in `carrier`, if any.
pub fn set_parent_from(span: &tracing::Span, carrier: &dyn Extractor) {
    let cx = extract(carrier);
    // A span whose subscriber has no OpenTelemetry layer ignores the parent: nothing to do.
    let _ = span.set_parent(cx);
}
