//! What the producer's and the consumer's librdkafka clients report besides records:
//! logs, forwarded to `tracing`, and the failures retrying cannot cure.
//!
//! librdkafka reports a refused SASL authentication or a failed TLS handshake only
//! to the client context's error callback (and to a consumer's queue), then keeps
//! reconnecting with the same credentials and trust store: a send would wait for
//! `message.timeout.ms` (5 minutes by default) and a consumer would never stop. The
//! runtime records the first such failure and makes both fail fast with it.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use rdkafka::bindings as rdsys;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::types::{RDKafka, RDKafkaErrorCode};

use crate::error::{ConnectionError, KafkaError};

/// Forwards one librdkafka log line to `tracing` (target `librdkafka`).
pub(crate) fn forward_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", fac, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

impl ConnectionError {
    /// The failure a client error callback reports, if retrying cannot cure it.
    /// `reason` is librdkafka's text, `<broker>: <what happened>`; it never holds
    /// credentials (librdkafka does not print them).
    pub(crate) fn from_client_error(error: &KafkaError, reason: &str) -> Option<Self> {
        let (broker, what) = match reason.split_once(": ") {
            Some((broker, what)) => (broker.to_owned(), what.to_owned()),
            None => ("(unnamed)".to_owned(), reason.to_owned()),
        };
        match error.rdkafka_error_code()? {
            RDKafkaErrorCode::Authentication => Some(ConnectionError::Authentication {
                broker,
                reason: what,
            }),
            // librdkafka reports a disconnect during the handshake as a transport
            // error: `SSL` is a handshake or certificate verification that failed.
            RDKafkaErrorCode::SSL => Some(ConnectionError::Tls {
                broker,
                reason: what,
            }),
            _ => None,
        }
    }
}

/// The first incurable failure one client saw.
#[derive(Debug, Default)]
pub(crate) struct ConnectionWatch {
    failure: OnceLock<ConnectionError>,
}

impl ConnectionWatch {
    /// Handles a client error callback: logs it, and records it when retrying cannot
    /// cure it. Returns whether this call recorded the client's first failure.
    pub(crate) fn observe(&self, error: KafkaError, reason: &str) -> bool {
        let Some(failure) = ConnectionError::from_client_error(&error, reason) else {
            tracing::warn!(target: "librdkafka", %error, reason, "client error");
            return false;
        };
        tracing::error!(error = %failure, "the broker refused the client; retrying cannot help");
        self.failure.set(failure).is_ok()
    }

    pub(crate) fn failure(&self) -> Option<&ConnectionError> {
        self.failure.get()
    }
}

/// State the producer shares with its client context.
#[derive(Debug, Default)]
pub(crate) struct ProducerShared {
    pub watch: ConnectionWatch,
    /// The producer's librdkafka handle, set once the client exists.
    client: AtomicPtr<RDKafka>,
}

impl ProducerShared {
    /// Lets the error callback purge the producer's queue (see [`ProducerContext`]).
    pub(crate) fn attach(&self, client: *mut RDKafka) {
        self.client.store(client, Ordering::Release);
    }

    /// Fails every queued record now (delivery error `PurgeQueue`) instead of after
    /// `message.timeout.ms`. Records in flight are left alone: their acknowledgement
    /// may still come, and purging them would make their fate unknowable.
    fn purge_queued(&self) {
        let client = self.client.load(Ordering::Acquire);
        if client.is_null() {
            // Nothing can be queued before the producer exists; later sends see the
            // recorded failure and are refused.
            return;
        }
        let flags = rdsys::RD_KAFKA_PURGE_F_QUEUE | rdsys::RD_KAFKA_PURGE_F_NON_BLOCKING;
        // SAFETY: `client` is the handle of the producer whose context this is. The
        // error callback runs on a thread polling that handle (rdkafka's poll thread or
        // a caller of `flush`), never during `rd_kafka_destroy`, so the handle is
        // alive; `rd_kafka_purge` is thread-safe and, non-blocking, does not wait for
        // the broker threads.
        let err = unsafe { rdsys::rd_kafka_purge(client, flags) };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            tracing::warn!(error = %RDKafkaErrorCode::from(err), "cannot purge the producer queue");
        }
    }
}

/// The producer's client context: logs through `tracing`, and on an incurable
/// failure fails the queued records at once.
pub(crate) struct ProducerContext {
    pub shared: std::sync::Arc<ProducerShared>,
}

impl ClientContext for ProducerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        forward_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.shared.watch.observe(error, reason) {
            self.shared.purge_queued();
        }
    }

    #[cfg(feature = "metrics")]
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::telemetry::producer_statistics(&statistics);
    }
}
