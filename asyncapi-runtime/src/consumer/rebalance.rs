//! The group's callbacks: partitions assigned get a worker reading their own queue,
//! partitions revoked have theirs stopped and their offsets committed before the
//! rebalance goes on. Callbacks run on the poll thread, which may block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, RebalanceProtocol,
};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};

use super::health::Health;
use super::partition::{GroupConsumer, Pipeline, StrayRecord, Worker};
use crate::client::{forward_log, ConnectionWatch};
use crate::error::KafkaError;

type TopicPartition = (Arc<str>, i32);

/// The consumer's librdkafka context: logs, connection failures, rebalances.
pub(crate) struct GroupContext {
    pub watch: ConnectionWatch,
    /// Splitting a partition's queue needs the consumer's `Arc`; the callbacks only
    /// get a reference. Set right after the consumer is created.
    consumer: OnceLock<Weak<GroupConsumer>>,
    workers: Mutex<HashMap<TopicPartition, Worker>>,
    /// Where the workers of the partitions revoked last stopped: if the next
    /// assignment gives a partition straight back (an eager rebalance), reading goes
    /// on from there, even when the broker refused the commit on revoke (a group in
    /// rebalance may refuse it).
    resume_at: Mutex<HashMap<TopicPartition, i64>>,
    pipeline: Arc<Pipeline>,
    runtime: tokio::runtime::Handle,
    health: Health,
    /// How long records in hand may finish when their partition is revoked.
    drain_timeout: Duration,
}

impl GroupContext {
    pub fn new(
        pipeline: Arc<Pipeline>,
        runtime: tokio::runtime::Handle,
        health: Health,
        drain_timeout: Duration,
    ) -> Self {
        GroupContext {
            watch: ConnectionWatch::default(),
            consumer: OnceLock::new(),
            workers: Mutex::new(HashMap::new()),
            resume_at: Mutex::new(HashMap::new()),
            pipeline,
            runtime,
            health,
            drain_timeout,
        }
    }

    pub fn set_consumer(&self, consumer: &Arc<GroupConsumer>) {
        let _ = self.consumer.set(Arc::downgrade(consumer));
    }

    fn workers(&self) -> MutexGuard<'_, HashMap<TopicPartition, Worker>> {
        // Only the poll thread takes this lock; poisoning would need a panic in it.
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resume_at(&self) -> MutexGuard<'_, HashMap<TopicPartition, i64>> {
        self.resume_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the start offset of partitions given straight back to where their last
    /// worker here stopped.
    fn resume_where_left(&self, tpl: &mut TopicPartitionList) {
        let resume_at = std::mem::take(&mut *self.resume_at());
        for ((topic, partition), offset) in resume_at {
            if tpl.find_partition(&topic, partition).is_some() {
                if let Err(e) = tpl.set_partition_offset(&topic, partition, Offset::Offset(offset))
                {
                    tracing::warn!(%topic, partition, error = %e, "cannot resume where the partition was left");
                }
            }
        }
    }

    /// A record on the main queue: its partition's queue was split off too late.
    /// Its worker takes it before anything from its own queue.
    pub fn stray(&self, msg: &BorrowedMessage<'_>) {
        let key: TopicPartition = (Arc::from(msg.topic()), msg.partition());
        match self.workers().get(&key) {
            Some(worker) => {
                tracing::debug!(
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    "record on the main queue; handing it to its partition"
                );
                worker.take_stray(StrayRecord::copy(msg));
            }
            None => {
                tracing::warn!(
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    "record of a partition not assigned; left for redelivery"
                )
            }
        }
    }

    /// Stops every worker (shutdown): records in hand get the drain deadline.
    pub fn stop_all(&self, deadline: Instant) {
        let workers: Vec<(TopicPartition, Worker)> = self.workers().drain().collect();
        stop_workers(workers, deadline, &self.health);
    }

    fn assign(&self, tpl: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return; // closing
        };
        let mut workers = self.workers();
        for element in tpl.elements() {
            let key: TopicPartition = (Arc::from(element.topic()), element.partition());
            if let Some(old) = workers.remove(&key) {
                // librdkafka revokes before it assigns again; never two workers anyway.
                tracing::warn!(topic = %key.0, partition = key.1, "partition assigned twice; stopping its first worker");
                old.stop(Instant::now() + self.drain_timeout);
            }
            // Split before librdkafka assigns: the queue is then never forwarded to
            // the main queue, so its records reach only this worker.
            let Some(queue) = consumer.split_partition_queue(&key.0, key.1) else {
                tracing::error!(topic = %key.0, partition = key.1, "cannot open the partition's queue; its records arrive on the main queue");
                continue;
            };
            let health = self.health.assigned(&key.0, key.1);
            let worker = Worker::start(
                &self.runtime,
                &consumer,
                queue,
                key.0.clone(),
                key.1,
                self.pipeline.clone(),
                health,
            );
            workers.insert(key, worker);
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let revoked: Vec<(TopicPartition, Worker)> = {
            let mut workers = self.workers();
            tpl.elements()
                .iter()
                .filter_map(|e| {
                    let key: TopicPartition = (Arc::from(e.topic()), e.partition());
                    workers.remove(&key).map(|w| (key, w))
                })
                .collect()
        };
        if consumer.assignment_lost() {
            // The group gave the partitions to others already: records in hand are
            // redelivered there, and no commit would be taken.
            tracing::warn!("assignment lost (session timed out?); abandoning records in hand");
            stop_workers(revoked, Instant::now(), &self.health);
            return;
        }
        let stopped_at = stop_workers(revoked, Instant::now() + self.drain_timeout, &self.health);
        self.resume_at().extend(stopped_at);
        // Their last settled offsets are stored: commit them before the partitions go.
        if let Err(e) = commit_stored(consumer) {
            tracing::warn!(error = %e, "commit on revoke failed");
        }
    }
}

/// Stops `workers` together: intake closes on all at once, then each gets until
/// `deadline` to finish its record in hand. Returns the offset each partition's
/// next record is at, for those whose worker settled any.
fn stop_workers(
    workers: Vec<(TopicPartition, Worker)>,
    deadline: Instant,
    health: &Health,
) -> Vec<(TopicPartition, i64)> {
    for (_, worker) in &workers {
        worker.close_intake();
    }
    let mut next = Vec::new();
    for (key, worker) in workers {
        if let Some(last) = worker.stop(deadline) {
            next.push((key.clone(), last + 1));
        }
        health.revoked(&key.0, key.1);
    }
    next
}

/// Commits the stored offsets synchronously; having none stored is not an error.
pub(crate) fn commit_stored<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
) -> Result<(), KafkaError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        forward_log(level, fac, message);
    }

    // Called on the poll thread, just before the same error is returned by `poll`.
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.observe(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    // Replaces rdkafka's default (pre-rebalance, assign, post-rebalance) to set where
    // partitions given straight back resume, before they are assigned.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let applied = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!(assigned = ?names(tpl), "partitions assigned");
                self.resume_where_left(tpl);
                self.assign(tpl);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(revoked = ?names(tpl), "partitions revoked; finishing records in hand");
                self.revoke(consumer, tpl);
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                let code = RDKafkaErrorCode::from(other);
                tracing::warn!(error = %code, "rebalance error; dropping the assignment");
                self.revoke(consumer, tpl);
                consumer.unassign()
            }
        };
        if let Err(e) = applied {
            tracing::error!(error = %e, "cannot apply the rebalance");
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, "offset commit failed"),
        }
    }
}

fn names(tpl: &TopicPartitionList) -> Vec<String> {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect()
}
