//! Where a consumer's partition workers run: together in one task of the runtime
//! `run` was called on, or each in a task of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc;

use crate::error::ConsumerError;

/// Records a worker reads before it leaves its thread (about a millisecond of small
/// records): often enough for timers and other tasks, rarely enough to cost nothing
/// measurable (yielding after each 128, tokio's budget, cost about 5 % of consume
/// throughput).
const MAX_RECORDS_PER_WORKER_TURN: u32 = 1024;
/// Records the workers sharing a task read, together, before the task leaves its
/// thread (about 3 ms of small records). Not 1,024: each yield of the shared task can
/// move it to another thread, and yielding every 1,024 records cost about 4 % of
/// consume throughput with four partitions.
const RECORDS_PER_TASK_TURN: u32 = 4096;
/// A worker's turn is never shorter than this, however many share its task: with many
/// partitions the task keeps its thread a little longer (100 partitions: 6,400
/// records) rather than yield every few records.
const MIN_RECORDS_PER_WORKER_TURN: u32 = 64;

/// Where the workers of a consumer's partitions run
/// ([`Consumer::partition_tasks`](super::Consumer::partition_tasks)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionTasks {
    /// One task per assigned partition (the default): handlers of different
    /// partitions run in parallel on the runtime's threads.
    #[default]
    PerPartition,
    /// All the consumer's partitions in one task, as a raw client's poll loop reads
    /// them: a handler that awaits lets the other partitions' records go on, but only
    /// one handler runs on a thread at a time, so the consumer takes at most one of
    /// the runtime's threads, and a handler that holds its thread holds up every
    /// partition. Records are read and freed on one thread at a time: with short
    /// handlers and small records it has read faster than the per-partition placement
    /// on some machines and slower on others (`docs/benchmarks.md`): measure yours.
    Shared,
}

/// A partition worker's whole life, ready to be polled.
pub(crate) type WorkerTask = BoxFuture<'static, ()>;

/// How many workers share a worker's task, so how many records the worker may read
/// before it yields: the task's [`RECORDS_PER_TASK_TURN`] divided among them, within
/// [`MIN_RECORDS_PER_WORKER_TURN`] and [`MAX_RECORDS_PER_WORKER_TURN`].
///
/// A worker yields through tokio (its wake-up deferred until the runtime has run other
/// tasks and its timers), which `FuturesUnordered` does not take for a yield of its
/// own: it goes on polling the task's other workers. Were each worker's turn the whole
/// budget, a task of `n` workers with backlogs would keep its thread for `n` turns.
#[derive(Clone)]
pub(crate) struct TaskShare(Arc<AtomicUsize>);

impl TaskShare {
    fn new(workers: usize) -> Self {
        TaskShare(Arc::new(AtomicUsize::new(workers)))
    }

    /// Records this worker may read before it yields.
    pub fn records_per_turn(&self) -> u32 {
        let workers = u32::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        (RECORDS_PER_TASK_TURN / workers.max(1))
            .clamp(MIN_RECORDS_PER_WORKER_TURN, MAX_RECORDS_PER_WORKER_TURN)
    }
}

/// Starts partition workers where the consumer's [`PartitionTasks`] says.
pub(crate) enum WorkerSpawner {
    /// Each worker a task of this runtime.
    OwnTasks(tokio::runtime::Handle),
    /// Each worker sent to the one task that polls them all ([`run_shared`]).
    Shared {
        workers: mpsc::UnboundedSender<WorkerTask>,
        share: TaskShare,
    },
}

impl WorkerSpawner {
    /// A spawner for the runtime of the calling task; with [`PartitionTasks::Shared`]
    /// it starts the task the workers will share, which ends once the spawner is
    /// dropped and every worker sent to it has ended. Should that task end before (a
    /// panic, its runtime shut down), `fatal` is told: the consumer's partitions would
    /// otherwise stay assigned with no reader.
    pub fn on_current_runtime(
        placement: PartitionTasks,
        fatal: mpsc::UnboundedSender<ConsumerError>,
    ) -> Self {
        match placement {
            PartitionTasks::PerPartition => {
                WorkerSpawner::OwnTasks(tokio::runtime::Handle::current())
            }
            PartitionTasks::Shared => {
                let (workers, incoming) = mpsc::unbounded_channel();
                let share = TaskShare::new(0);
                tokio::spawn(run_shared(incoming, share.clone(), fatal));
                WorkerSpawner::Shared { workers, share }
            }
        }
    }

    /// The share of its task's turns the next worker started gets.
    pub fn share(&self) -> TaskShare {
        match self {
            WorkerSpawner::OwnTasks(_) => TaskShare::new(1),
            WorkerSpawner::Shared { share, .. } => share.clone(),
        }
    }

    /// Starts `worker`. Callable from any thread (the poll thread starts workers on
    /// assignment).
    pub fn spawn(&self, worker: WorkerTask) {
        match self {
            WorkerSpawner::OwnTasks(runtime) => {
                runtime.spawn(worker);
            }
            WorkerSpawner::Shared { workers, .. } => {
                // Refused only when the shared task is gone, which it reported: the
                // worker is dropped unstarted, which its handle sees as ended.
                let _ = workers.send(worker);
            }
        }
    }
}

/// Polls every worker sent through `incoming` in this one task, until the sender is
/// gone and all of them have ended; keeps `share` at the number running.
async fn run_shared(
    mut incoming: mpsc::UnboundedReceiver<WorkerTask>,
    share: TaskShare,
    fatal: mpsc::UnboundedSender<ConsumerError>,
) {
    let mut ended_early = EndedEarly(Some(fatal));
    let mut running = FuturesUnordered::new();
    let mut accepting = true;
    loop {
        tokio::select! {
            worker = incoming.recv(), if accepting => match worker {
                Some(worker) => {
                    running.push(worker);
                    share.0.store(running.len(), Ordering::Relaxed);
                }
                None => accepting = false,
            },
            Some(()) = running.next(), if !running.is_empty() => {
                share.0.store(running.len(), Ordering::Relaxed);
            }
            else => break,
        }
    }
    ended_early.0 = None;
}

/// Reports the shared task dropped before its workers ended.
struct EndedEarly(Option<mpsc::UnboundedSender<ConsumerError>>);

impl Drop for EndedEarly {
    fn drop(&mut self) {
        if let Some(fatal) = self.0.take() {
            let _ = fatal.send(ConsumerError::Task(
                "the task running the consumer's partition workers ended before them (a panic, or its runtime shut down)".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers are contained (`PartitionWorker::run_contained`); should one panic all
    /// the same, the task they share ends, and the consumer hears of it instead of
    /// keeping its partitions with no reader.
    #[tokio::test]
    async fn a_shared_task_that_ends_before_its_workers_is_reported() {
        let (fatal, mut reported) = mpsc::unbounded_channel();
        let spawner = WorkerSpawner::on_current_runtime(PartitionTasks::Shared, fatal);
        spawner.spawn(Box::pin(async { panic!("uncontained") }));
        let error = tokio::time::timeout(std::time::Duration::from_secs(10), reported.recv())
            .await
            .expect("reported")
            .expect("an error");
        assert!(error.to_string().contains("ended before them"), "{error}");
    }

    /// A shared task that ends because its spawner is gone and its workers ended
    /// reports nothing.
    #[tokio::test]
    async fn a_shared_task_that_ends_after_its_workers_reports_nothing() {
        let (fatal, mut reported) = mpsc::unbounded_channel();
        let spawner = WorkerSpawner::on_current_runtime(PartitionTasks::Shared, fatal);
        spawner.spawn(Box::pin(async {}));
        drop(spawner);
        // The channel closes when the task ends and drops its sender.
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), reported.recv())
            .await
            .expect("the task ended");
        assert!(next.is_none(), "{next:?}");
    }

    /// Workers sharing a task divide its turn, within bounds; a worker of its own gets
    /// a whole worker's turn.
    #[tokio::test]
    async fn workers_sharing_a_task_divide_its_turn() {
        let (fatal, _reported) = mpsc::unbounded_channel();
        let spawner = WorkerSpawner::on_current_runtime(PartitionTasks::Shared, fatal);
        let share = spawner.share();
        let (release, released) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let mut released = released.clone();
            spawner.spawn(Box::pin(async move {
                let _ = released.wait_for(|r| *r).await;
            }));
        }
        for _ in 0..4 {
            let mut released = released.clone();
            spawner.spawn(Box::pin(async move {
                let _ = released.wait_for(|r| *r).await;
            }));
        }
        while share.records_per_turn() != RECORDS_PER_TASK_TURN / 8 {
            tokio::task::yield_now().await;
        }
        let _ = release.send(true);
        while share.records_per_turn() != MAX_RECORDS_PER_WORKER_TURN {
            tokio::task::yield_now().await;
        }
        let (fatal, _reported) = mpsc::unbounded_channel();
        let own = WorkerSpawner::on_current_runtime(PartitionTasks::PerPartition, fatal);
        assert_eq!(own.share().records_per_turn(), MAX_RECORDS_PER_WORKER_TURN);
        assert_eq!(
            TaskShare::new(2).records_per_turn(),
            MAX_RECORDS_PER_WORKER_TURN
        );
        assert_eq!(
            TaskShare::new(1_000).records_per_turn(),
            MIN_RECORDS_PER_WORKER_TURN
        );
    }
}
