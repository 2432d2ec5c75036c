//! W3C trace context across services (cargo feature `otel`): a send carries the
//! current span's context in `traceparent` / `tracestate` headers, and the span a
//! consumer handles the record in continues that trace. Spans reach OpenTelemetry
//! through `tracing-opentelemetry`: install its layer with a tracer to export them.
//! Without the feature both functions are empty, and the consumer need not read a
//! record's headers for them.

use crate::contract::RawHeader;

/// Adds the current span's trace context to `headers`, unless they carry one already
/// (a record being forwarded or dead-lettered keeps its origin's).
#[cfg(feature = "otel")]
pub(crate) fn inject(headers: &mut Vec<RawHeader>) {
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    if headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
    {
        return;
    }
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .inject_context(&context, &mut HeaderInjector(headers));
}

/// Makes `span` (not yet entered) a child of the trace context in `headers`, if any.
#[cfg(feature = "otel")]
pub(crate) fn continue_trace<'h>(span: &tracing::Span, headers: impl FnOnce() -> &'h [RawHeader]) {
    let headers = headers();
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&HeaderExtractor(headers));
    if context.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(context);
    }
}

#[cfg(not(feature = "otel"))]
#[inline(always)]
pub(crate) fn inject(_headers: &mut Vec<RawHeader>) {}

#[cfg(not(feature = "otel"))]
#[inline(always)]
pub(crate) fn continue_trace<'h>(
    _span: &tracing::Span,
    _headers: impl FnOnce() -> &'h [RawHeader],
) {
}

#[cfg(feature = "otel")]
struct HeaderInjector<'h>(&'h mut Vec<RawHeader>);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value.into_bytes()));
    }
}

#[cfg(feature = "otel")]
struct HeaderExtractor<'h>(&'h [RawHeader]);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        crate::contract::header_value(self.0, key).and_then(|value| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}
