//! The group's callbacks: partitions assigned get a worker reading their own queue,
//! partitions revoked have theirs stopped and their offsets committed before the
//! rebalance goes on. Callbacks run on the poll thread, which may block.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
use super::partition::{GroupConsumer, StrayRecord, WorkerHandle, ABANDON_GRACE};
use super::placement::WorkerSpawner;
use super::settle::Pipeline;
use crate::client::{forward_log, ConnectionWatch};
use crate::error::{ConsumerError, KafkaError};

type TopicPartition = (Arc<str>, i32);

/// The consumer's librdkafka context: logs, connection failures, rebalances.
pub(crate) struct GroupContext {
    pub watch: ConnectionWatch,
    /// Splitting a partition's queue needs the consumer's `Arc`; the callbacks only
    /// get a reference. Set right after the consumer is created.
    consumer: OnceLock<Weak<GroupConsumer>>,
    workers: Mutex<HashMap<TopicPartition, WorkerHandle>>,
    /// Where the workers of the partitions revoked last stopped: if the next
    /// assignment gives a partition straight back (an eager rebalance), reading goes
    /// on from there, even when the broker refused the commit on revoke (a group in
    /// rebalance may refuse it).
    resume_at: Mutex<HashMap<TopicPartition, i64>>,
    pipeline: Arc<Pipeline>,
    /// Starts the workers where the consumer's `PartitionTasks` says.
    spawner: WorkerSpawner,
    health: Health,
    /// How long records in hand may finish when their partition is revoked.
    drain_timeout: Duration,
    /// Set once the broker refused the client for good: no commit is tried any more
    /// (closing the consumer revokes its partitions once more).
    commits_off: AtomicBool,
    /// Set once every worker was stopped for shutdown: an assignment served while the
    /// consumer closes gets no worker (librdkafka turns it into an unassignment).
    stopped: AtomicBool,
}

impl GroupContext {
    pub fn new(
        pipeline: Arc<Pipeline>,
        spawner: WorkerSpawner,
        health: Health,
        drain_timeout: Duration,
    ) -> Self {
        GroupContext {
            watch: ConnectionWatch::default(),
            consumer: OnceLock::new(),
            workers: Mutex::new(HashMap::new()),
            resume_at: Mutex::new(HashMap::new()),
            pipeline,
            spawner,
            health,
            drain_timeout,
            commits_off: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// No commit from now on (the consumer stops on a fatal error).
    pub fn stop_committing(&self) {
        self.commits_off.store(true, Ordering::Release);
    }

    pub fn set_consumer(&self, consumer: &Arc<GroupConsumer>) {
        let _ = self.consumer.set(Arc::downgrade(consumer));
    }

    fn workers(&self) -> MutexGuard<'_, HashMap<TopicPartition, WorkerHandle>> {
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
    pub fn stop_all(&self, drain: Duration) {
        self.stopped.store(true, Ordering::Release);
        let workers: Vec<(TopicPartition, WorkerHandle)> = self.workers().drain().collect();
        stop_workers(workers, drain, &self.health);
    }

    /// Starts a worker for each partition of `tpl`, its queue split off first.
    fn start_workers(&self, tpl: &TopicPartitionList) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return; // closing
        };
        let mut workers = self.workers();
        for element in tpl.elements() {
            let key: TopicPartition = (Arc::from(element.topic()), element.partition());
            if let Some(old) = workers.remove(&key) {
                // librdkafka revokes before it assigns again; never two workers anyway.
                tracing::warn!(topic = %key.0, partition = key.1, "partition assigned twice; stopping its first worker");
                stop_workers(vec![(key.clone(), old)], self.drain_timeout, &self.health);
            }
            // Split before librdkafka assigns: the queue is then never forwarded to
            // the main queue, so its records reach only this worker.
            let Some(queue) = consumer.split_partition_queue(&key.0, key.1) else {
                let _ = self.pipeline.fatal.send(ConsumerError::Task(format!(
                    "cannot open the queue of partition {}/{}",
                    key.0, key.1
                )));
                continue;
            };
            let health = self.health.assigned(&key.0, key.1);
            let worker = WorkerHandle::start(
                &self.spawner,
                &consumer,
                queue,
                self.pipeline.clone(),
                health,
                key.clone(),
            );
            workers.insert(key, worker);
        }
    }

    /// Takes the handles of the workers of the partitions of `tpl` out of the table.
    fn take_workers(&self, tpl: &TopicPartitionList) -> Vec<(TopicPartition, WorkerHandle)> {
        let mut workers = self.workers();
        tpl.elements()
            .iter()
            .filter_map(|e| {
                let key: TopicPartition = (Arc::from(e.topic()), e.partition());
                workers.remove(&key).map(|w| (key, w))
            })
            .collect()
    }

    /// Stops the workers of the partitions of `tpl` (an assignment librdkafka refused).
    fn stop_workers_of(&self, tpl: &TopicPartitionList) {
        stop_workers(self.take_workers(tpl), Duration::ZERO, &self.health);
    }

    /// Stops the workers of the partitions of `tpl` (revoked), then commits what they
    /// settled.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let revoked = self.take_workers(tpl);
        if consumer.assignment_lost() {
            // The group gave the partitions to others already: records in hand are
            // redelivered there, and no commit would be taken.
            tracing::warn!("assignment lost (session timed out?); abandoning records in hand");
            stop_workers(revoked, Duration::ZERO, &self.health);
            return;
        }
        let next_offsets = stop_workers(revoked, self.drain_timeout, &self.health);
        self.resume_at().extend(next_offsets);
        if self.commits_off.load(Ordering::Acquire) {
            return;
        }
        // Their last settled offsets are stored: commit them before the partitions go.
        if let Err(e) = commit_stored(consumer) {
            tracing::warn!(error = %e, "commit on revoke failed");
        }
    }
}

/// Stops `workers` together: intake closes on all at once, records in hand get
/// `drain` to finish, those still in hand then are abandoned (with one shared grace
/// for their futures to be dropped). Returns, for each partition whose worker settled
/// a record, the offset its next record is at.
fn stop_workers(
    workers: Vec<(TopicPartition, WorkerHandle)>,
    drain: Duration,
    health: &Health,
) -> Vec<(TopicPartition, i64)> {
    for (_, worker) in &workers {
        worker.close_intake();
    }
    let deadline = deadline_after(drain);
    let in_hand: Vec<&WorkerHandle> = workers
        .iter()
        .map(|(_, w)| w)
        .filter(|w| !w.wait_until(deadline))
        .collect();
    let grace = deadline_after(ABANDON_GRACE);
    for worker in &in_hand {
        worker.abandon();
    }
    for worker in in_hand {
        worker.wait_until(grace);
    }
    let mut next = Vec::new();
    for (key, worker) in workers {
        if let Some(last) = worker.release() {
            next.push((key.clone(), last + 1));
        }
        health.revoked(&key.0, key.1);
    }
    next
}

/// `now + wait`, or a year from now when that overflows (`Duration::MAX` meaning
/// "no limit").
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
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

    // Called by whoever polls the queue the error event is on: the poll thread (group
    // and connection errors, just before `poll` returns the same error) or a partition
    // worker (fetch errors, which it logs). The poll thread reads the watch whenever
    // its own poll returns an error.
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.observe(error, reason);
    }

    #[cfg(feature = "metrics")]
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::telemetry::consumer_statistics(&statistics);
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
                self.start_workers(tpl);
                let applied = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if applied.is_err() {
                    self.stop_workers_of(tpl);
                }
                applied
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(revoked = ?names(tpl), "partitions revoked; finishing records in hand");
                self.revoke(consumer, tpl);
                crate::telemetry::partitions_released(tpl);
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
                crate::telemetry::partitions_released(tpl);
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
