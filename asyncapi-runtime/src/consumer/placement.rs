//! Where a consumer's partition workers run: together in one task of the runtime
//! `run` was called on, or each in a task of its own.

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc;

/// Where the workers of a consumer's partitions run
/// ([`Consumer::partition_tasks`](super::Consumer::partition_tasks)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionTasks {
    /// All the consumer's partitions in one task (the default), as a raw client's
    /// poll loop reads them: a handler that awaits lets the other partitions' records
    /// go on, but only one handler runs on a thread at a time, so the consumer takes
    /// at most one of the runtime's threads. Records are read and freed on one thread
    /// at a time, the fastest placement for short handlers (`docs/benchmarks.md`).
    #[default]
    Shared,
    /// One task per assigned partition: handlers of different partitions run in
    /// parallel on the runtime's threads. For handlers that compute for long without
    /// awaiting; with short handlers the threads contend for librdkafka's records.
    PerPartition,
}

/// A partition worker's whole life, ready to be polled.
pub(crate) type WorkerTask = BoxFuture<'static, ()>;

/// Starts partition workers where the consumer's [`PartitionTasks`] says.
pub(crate) enum WorkerSpawner {
    /// Each worker a task of this runtime.
    OwnTasks(tokio::runtime::Handle),
    /// Each worker sent to the one task that polls them all ([`run_shared`]).
    Shared(mpsc::UnboundedSender<WorkerTask>),
}

impl WorkerSpawner {
    /// A spawner for the runtime of the calling task; with [`PartitionTasks::Shared`]
    /// it starts the task the workers will share, which ends once the spawner is
    /// dropped and every worker sent to it has ended.
    pub fn on_current_runtime(placement: PartitionTasks) -> Self {
        match placement {
            PartitionTasks::PerPartition => {
                WorkerSpawner::OwnTasks(tokio::runtime::Handle::current())
            }
            PartitionTasks::Shared => {
                let (workers, incoming) = mpsc::unbounded_channel();
                tokio::spawn(run_shared(incoming));
                WorkerSpawner::Shared(workers)
            }
        }
    }

    /// Starts `worker`. Callable from any thread (the poll thread starts workers on
    /// assignment).
    pub fn spawn(&self, worker: WorkerTask) {
        match self {
            WorkerSpawner::OwnTasks(runtime) => {
                runtime.spawn(worker);
            }
            WorkerSpawner::Shared(workers) => {
                // Refused only when the shared task is gone (its runtime shut down):
                // the worker is dropped unstarted, which its handle sees as ended.
                let _ = workers.send(worker);
            }
        }
    }
}

/// Polls every worker sent through `incoming` in this one task, until the sender is
/// gone and all of them have ended.
async fn run_shared(mut incoming: mpsc::UnboundedReceiver<WorkerTask>) {
    let mut running = FuturesUnordered::new();
    let mut accepting = true;
    loop {
        tokio::select! {
            worker = incoming.recv(), if accepting => match worker {
                Some(worker) => running.push(worker),
                None => accepting = false,
            },
            Some(()) = running.next(), if !running.is_empty() => {}
            else => break,
        }
    }
}
