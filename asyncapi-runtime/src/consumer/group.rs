//! Membership of the consumer group: one thread polls the consumer's main queue, which
//! serves rebalances and errors (records arrive on the partitions' own queues), and
//! runs the blocking steps (drain, synchronous commit, leaving the group) off the
//! async worker threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer as _;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::health::Health;
use super::partition::{GroupConsumer, ABANDON_GRACE};
use super::placement::{PartitionTasks, WorkerSpawner};
use super::rebalance::{commit_stored, GroupContext};
use super::settle::Pipeline;
use crate::error::{ConsumerError, KafkaError};

/// How long one poll of the main queue waits: bounds how late a stop is noticed.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long leaving the group may take when workers still hold the consumer at
/// shutdown; also what `run` allows the final commit and the close ([`stop_limit`]).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one group membership needs.
pub(crate) struct Membership {
    pub client: ClientConfig,
    pub group: String,
    pub topics: Vec<String>,
    pub pipeline: Arc<Pipeline>,
    pub fatal: mpsc::UnboundedReceiver<ConsumerError>,
    pub health: Health,
    pub drain_timeout: Duration,
    pub partition_tasks: PartitionTasks,
}

/// Joins the group and consumes until `shutdown` fires or a fatal error, then drains,
/// commits and leaves.
pub(crate) async fn run(
    membership: Membership,
    shutdown: CancellationToken,
    stopping: CancellationToken,
) -> Result<(), ConsumerError> {
    let Membership {
        client,
        group,
        topics,
        pipeline,
        mut fatal,
        health,
        drain_timeout,
        partition_tasks,
    } = membership;
    let spawner = WorkerSpawner::on_current_runtime(partition_tasks, pipeline.fatal.clone());
    let context = GroupContext::new(pipeline, spawner, health.clone(), drain_timeout);
    let consumer: Arc<GroupConsumer> = Arc::new(
        client
            .create_with_context(context)
            .map_err(|e| ConsumerError::Config(crate::config::ConfigError::Client(e)))?,
    );
    consumer.context().set_consumer(&consumer);
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs)?;

    let stop = Arc::new(AtomicBool::new(false));
    // Dropping `run` (a `select!`, a timeout, an aborted task) stops the consumer too.
    let _stop_on_drop = StopOnDrop {
        stop: stop.clone(),
        stopping: stopping.clone(),
    };
    let (done_tx, mut done) = oneshot::channel();
    let poll_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("kafka-consumer-{group}"))
        .spawn(move || {
            let result = poll_until_stopped(consumer, &poll_stop, drain_timeout);
            let _ = done_tx.send(result);
        })
        .map_err(|e| ConsumerError::Task(format!("cannot start the poll thread: {e}")))?;
    health.set_running(true);
    tracing::info!(group = %group, "consumer started");

    let mut failure = None;
    let mut ended = None;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        Some(error) = fatal.recv() => failure = Some(error),
        result = &mut done => ended = Some(result),
    }
    tracing::info!(group = %group, "stopping consumer: finishing records in hand");
    // Subscriptions stop waiting on their streams (after a grace period for acks).
    stopping.cancel();
    stop.store(true, Ordering::Release);
    let ended = match ended {
        Some(ended) => ended,
        None => {
            let limit = stop_limit(drain_timeout);
            match tokio::time::timeout(limit, done).await {
                Ok(ended) => ended,
                Err(_) => {
                    // The thread goes on closing, detached; nothing here waits for it.
                    health.set_running(false);
                    tracing::error!(group = %group, ?limit, "consumer did not finish stopping; it goes on closing in the background");
                    // What stopped the consumer, if an error did, says more.
                    let failure = failure.or_else(|| fatal.try_recv().ok());
                    return Err(failure.unwrap_or(ConsumerError::StopTimedOut(limit)));
                }
            }
        }
    };
    let result =
        ended.unwrap_or_else(|_| Err(ConsumerError::Task("the poll thread panicked".into())));
    // The poll thread has ended: nothing blocks in joining it.
    let _ = thread.join();
    health.set_running(false);
    tracing::info!(group = %group, "consumer stopped");
    match failure.or_else(|| fatal.try_recv().ok()) {
        Some(error) => Err(error),
        None => result,
    }
}

/// How long `run` waits for the poll thread once told to stop: a revocation under way
/// (its drain deadline, the grace of abandoned records, its commit), then the same for
/// the shutdown itself, then leaving the group; [`CLOSE_TIMEOUT`] for each commit and
/// for the close, which wait for the broker (for good, once it went away mid-request).
fn stop_limit(drain_timeout: Duration) -> Duration {
    let one_drain = drain_timeout
        .saturating_add(ABANDON_GRACE)
        .saturating_add(CLOSE_TIMEOUT);
    one_drain.saturating_mul(2).saturating_add(CLOSE_TIMEOUT)
}

/// Tells the poll thread and the subscriptions to stop when `run` ends or is dropped.
struct StopOnDrop {
    stop: Arc<AtomicBool>,
    stopping: CancellationToken,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.stopping.cancel();
    }
}

/// The poll thread's life: serve the main queue until told to stop or a fatal
/// error, then stop the workers, commit and leave the group. A panic (in a callback)
/// still stops the workers and closes the consumer.
fn poll_until_stopped(
    consumer: Arc<GroupConsumer>,
    stop: &AtomicBool,
    drain_timeout: Duration,
) -> Result<(), ConsumerError> {
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| poll(&consumer, stop)));
    let context = consumer.context();
    let committed = match polled {
        Ok(Ok(())) => {
            context.stop_all(drain_timeout);
            final_commit(&consumer)
        }
        Ok(Err(fatal)) => {
            // The broker would not take a commit: stop without one.
            context.stop_committing();
            context.stop_all(Duration::from_secs(1));
            Err(fatal)
        }
        Err(panic) => {
            context.stop_committing();
            context.stop_all(Duration::from_secs(1));
            let message = super::route::panic_text(&*panic);
            Err(ConsumerError::Task(format!(
                "the poll thread panicked: {message}"
            )))
        }
    };
    // Closing the consumer revokes its partitions once more: what the workers stored
    // is committed already.
    context.stop_committing();
    let health = context.health().clone();
    // Every worker was stopped (now or at a revocation); one that did not end (its
    // handler holds its thread) still holds a handle on the consumer, and may never
    // let it go: the group must not wait for it.
    if Arc::strong_count(&consumer) > 1 {
        leave_group(&consumer);
    }
    // Dropping the last handle closes the consumer here, which leaves the group.
    drop(consumer);
    health.set_running(false);
    committed
}

/// Closes the consumer, which leaves the group, serving its main queue (the
/// revocation) until it is closed or [`CLOSE_TIMEOUT`]. When a worker that outlived
/// the drain deadline later drops the last handle, rdkafka logs that it finds the
/// consumer closed already.
fn leave_group(consumer: &GroupConsumer) {
    if let Err(e) = consumer.close_queue() {
        tracing::warn!(error = %e, "cannot close the consumer; it leaves the group when its last worker ends");
        return;
    }
    let deadline = super::rebalance::deadline_after(CLOSE_TIMEOUT);
    while !consumer.closed() {
        if Instant::now() >= deadline {
            tracing::warn!(timeout = ?CLOSE_TIMEOUT, "the consumer did not leave its group in time; the group drops it when its session times out");
            return;
        }
        // Records of the main queue are left unstored: they are redelivered.
        let _ = consumer.poll(POLL_INTERVAL);
    }
}

/// Serves the main queue: rebalances, errors, and records that reached it instead of
/// their partition's queue.
fn poll(consumer: &GroupConsumer, stop: &AtomicBool) -> Result<(), ConsumerError> {
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(POLL_INTERVAL) {
            None => {}
            Some(Ok(msg)) => consumer.context().stray(&msg),
            Some(Err(e)) => {
                if let Some(fatal) = fatal_error(consumer, e) {
                    return Err(fatal);
                }
            }
        }
    }
    Ok(())
}

/// Commits what the stopped workers stored.
fn final_commit(consumer: &GroupConsumer) -> Result<(), ConsumerError> {
    match commit_stored(consumer) {
        Err(KafkaError::ConsumerCommit(
            code @ (RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId),
        )) => {
            // The group is moving on without this member: the partitions' next owners
            // start at the last commit and handle again what was settled since.
            tracing::warn!(error = %code, "final commit refused by the group; records settled since the last commit will be handled again");
            Ok(())
        }
        other => other.map_err(ConsumerError::Kafka),
    }
}

/// The error that stops the consumer, if `e` is one: an incurable connection failure
/// the context recorded, or one librdkafka calls fatal. Others are logged.
fn fatal_error(consumer: &GroupConsumer, e: KafkaError) -> Option<ConsumerError> {
    if let Some(failure) = consumer.context().watch.failure() {
        return Some(ConsumerError::Connection(failure.clone()));
    }
    if matches!(e, KafkaError::MessageConsumptionFatal(_)) {
        tracing::error!(error = %e, "fatal consumer error");
        return Some(ConsumerError::Kafka(e));
    }
    tracing::warn!(error = %e, "consumer error");
    None
}
