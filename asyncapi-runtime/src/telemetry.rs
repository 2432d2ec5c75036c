//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (cargo feature
//! `metrics`): install any recorder (Prometheus, StatsD, OpenTelemetry...) and these
//! are reported. Without the feature every function here is empty and inlined away,
//! so the record path pays nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `asyncapi_records_handled_total` | counter | `channel` | records whose handler succeeded |
//! | `asyncapi_records_retried_total` | counter | `channel` | handler attempts that failed and are retried |
//! | `asyncapi_records_failed_total` | counter | `channel`, `reason` | records given up (decode, schema, handler error, panic, time-out) |
//! | `asyncapi_records_dead_lettered_total` | counter | `channel`, `reason` | records written to their dead-letter topic |
//! | `asyncapi_handler_duration_seconds` | histogram | `channel` | one handler attempt |
//! | `asyncapi_records_in_flight` | gauge | | records being settled |
//! | `asyncapi_partitions_stuck` | gauge | | partitions waiting on a failing dead-letter send |
//! | `asyncapi_consumer_lag` | gauge | `topic`, `partition` | records behind the end of each partition assigned to this member, from librdkafka statistics; NaN once the partition is revoked from it |
//! | `asyncapi_producer_queue_depth` | gauge | | records in the producer's queues, from librdkafka statistics |
//! | `asyncapi_producer_delivery_errors_total` | counter | `topic` | sends the broker did not acknowledge |
//!
//! With the feature, consumers and producers ask librdkafka for statistics every 15 s
//! (`statistics.interval.ms`, which a configuration may set otherwise; `0` turns the
//! lag and queue-depth gauges off).

/// Counter of records whose handler succeeded, labelled by `channel`.
pub const RECORDS_HANDLED: &str = "asyncapi_records_handled_total";
/// Counter of failed handler attempts that are retried, labelled by `channel`.
pub const RECORDS_RETRIED: &str = "asyncapi_records_retried_total";
/// Counter of records given up, labelled by `channel` and `reason`.
pub const RECORDS_FAILED: &str = "asyncapi_records_failed_total";
/// Counter of records written to their dead-letter topic, labelled by `channel` and `reason`.
pub const RECORDS_DEAD_LETTERED: &str = "asyncapi_records_dead_lettered_total";
/// Histogram of the seconds one handler attempt takes, labelled by `channel`.
pub const HANDLER_DURATION: &str = "asyncapi_handler_duration_seconds";
/// Gauge of the records being settled.
pub const RECORDS_IN_FLIGHT: &str = "asyncapi_records_in_flight";
/// Gauge of the partitions waiting on a failing dead-letter send.
pub const PARTITIONS_STUCK: &str = "asyncapi_partitions_stuck";
/// Gauge of the records behind a partition's end, labelled by `topic` and `partition`.
pub const CONSUMER_LAG: &str = "asyncapi_consumer_lag";
/// Gauge of the records in the producer's queues.
pub const PRODUCER_QUEUE_DEPTH: &str = "asyncapi_producer_queue_depth";
/// Counter of sends the broker did not acknowledge, labelled by `topic`.
pub const PRODUCER_DELIVERY_ERRORS: &str = "asyncapi_producer_delivery_errors_total";

/// librdkafka properties a client gets by default when metrics are reported.
#[cfg(feature = "metrics")]
pub(crate) const CLIENT_DEFAULTS: &[(&str, &str)] = &[("statistics.interval.ms", "15000")];
#[cfg(not(feature = "metrics"))]
pub(crate) const CLIENT_DEFAULTS: &[(&str, &str)] = &[];

#[cfg(feature = "metrics")]
mod report {
    use std::time::Instant;

    use super::*;

    pub(crate) fn handled(channel: &'static str) {
        metrics::counter!(RECORDS_HANDLED, "channel" => channel).increment(1);
    }

    pub(crate) fn retried(channel: &'static str) {
        metrics::counter!(RECORDS_RETRIED, "channel" => channel).increment(1);
    }

    pub(crate) fn failed(channel: &'static str, reason: &'static str) {
        metrics::counter!(RECORDS_FAILED, "channel" => channel, "reason" => reason).increment(1);
    }

    pub(crate) fn dead_lettered(channel: &'static str, reason: &'static str) {
        metrics::counter!(RECORDS_DEAD_LETTERED, "channel" => channel, "reason" => reason)
            .increment(1);
    }

    pub(crate) fn stuck_partitions(change: f64) {
        metrics::gauge!(PARTITIONS_STUCK).increment(change);
    }

    pub(crate) fn delivery_error(topic: &str) {
        metrics::counter!(PRODUCER_DELIVERY_ERRORS, "topic" => topic.to_owned()).increment(1);
    }

    /// Reports the consumer lag of the partitions assigned to this member (librdkafka's
    /// statistics list every partition of the subscribed topics; another member reports
    /// the rest) whose lag librdkafka knows.
    pub(crate) fn consumer_statistics(statistics: &rdkafka::Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                // Partition -1 is librdkafka's internal UA partition.
                if *partition >= 0 && p.desired && p.consumer_lag >= 0 {
                    partition_lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }

    /// One partition's lag; a negative lag (unknown) is NaN, which a dashboard shows as
    /// a gap and an alert does not match.
    pub(crate) fn partition_lag(topic: &str, partition: i32, lag: i64) {
        let value = if lag >= 0 { lag as f64 } else { f64::NAN };
        metrics::gauge!(CONSUMER_LAG, "topic" => topic.to_owned(), "partition" => partition.to_string())
            .set(value);
    }

    /// Partitions this member gave up: their lag is no longer this member's to report,
    /// and is NaN here rather than the last lag they had.
    pub(crate) fn partitions_released(partitions: &rdkafka::TopicPartitionList) {
        for element in partitions.elements() {
            partition_lag(element.topic(), element.partition(), -1);
        }
    }

    pub(crate) fn producer_statistics(statistics: &rdkafka::Statistics) {
        metrics::gauge!(PRODUCER_QUEUE_DEPTH).set(statistics.msg_cnt as f64);
    }

    /// Counts a record in flight while it lives.
    pub(crate) struct InFlight;

    impl InFlight {
        pub(crate) fn start() -> Self {
            metrics::gauge!(RECORDS_IN_FLIGHT).increment(1.0);
            InFlight
        }
    }

    impl Drop for InFlight {
        fn drop(&mut self) {
            metrics::gauge!(RECORDS_IN_FLIGHT).decrement(1.0);
        }
    }

    /// Times one handler attempt.
    pub(crate) struct HandlerTimer(Instant);

    impl HandlerTimer {
        pub(crate) fn start() -> Self {
            HandlerTimer(Instant::now())
        }

        pub(crate) fn finished(self, channel: &'static str) {
            metrics::histogram!(HANDLER_DURATION, "channel" => channel)
                .record(self.0.elapsed().as_secs_f64());
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod report {
    #[inline(always)]
    pub(crate) fn handled(_channel: &'static str) {}
    #[inline(always)]
    pub(crate) fn retried(_channel: &'static str) {}
    #[inline(always)]
    pub(crate) fn failed(_channel: &'static str, _reason: &'static str) {}
    #[inline(always)]
    pub(crate) fn dead_lettered(_channel: &'static str, _reason: &'static str) {}
    #[inline(always)]
    pub(crate) fn stuck_partitions(_change: f64) {}
    #[inline(always)]
    pub(crate) fn delivery_error(_topic: &str) {}
    #[inline(always)]
    pub(crate) fn partitions_released(_partitions: &rdkafka::TopicPartitionList) {}

    pub(crate) struct InFlight;

    impl InFlight {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            InFlight
        }
    }

    pub(crate) struct HandlerTimer;

    impl HandlerTimer {
        #[inline(always)]
        pub(crate) fn start() -> Self {
            HandlerTimer
        }
        #[inline(always)]
        pub(crate) fn finished(self, _channel: &'static str) {}
    }
}

pub(crate) use report::*;

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use rdkafka::TopicPartitionList;

    use super::*;

    /// The lag gauge of `orders` partition 3, as the recorder last saw it.
    fn lag_of(recorder: &DebuggingRecorder) -> Option<f64> {
        recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| {
                let key = key.key();
                key.name() == CONSUMER_LAG
                    && key
                        .labels()
                        .any(|l| l.key() == "partition" && l.value() == "3")
            })
            .and_then(|(_, _, _, value)| match value {
                DebugValue::Gauge(value) => Some(value.into_inner()),
                _ => None,
            })
    }

    /// A partition revoked from this member does not keep reporting the lag it had.
    #[test]
    fn a_released_partition_stops_reporting_its_last_lag() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            partition_lag("orders", 3, 120);
            assert_eq!(lag_of(&recorder), Some(120.0));
            let mut revoked = TopicPartitionList::new();
            revoked.add_partition("orders", 3);
            partitions_released(&revoked);
            assert!(lag_of(&recorder).is_some_and(f64::is_nan));
        });
    }
}
