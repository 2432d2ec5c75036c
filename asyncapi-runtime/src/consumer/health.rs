//! What a running consumer reports about itself: the partitions it owns and whether
//! each one makes progress, for a service's health or readiness endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// A view of a consumer's partitions, taken from [`Consumer::health`](super::Consumer::health)
/// before `run`. Cheap to clone; reads never wait on the consumer.
#[derive(Debug, Clone, Default)]
pub struct Health {
    table: Arc<HealthTable>,
}

#[derive(Debug, Default)]
struct HealthTable {
    running: AtomicBool,
    partitions: Mutex<BTreeMap<TopicPartition, Arc<PartitionHealth>>>,
}

type TopicPartition = (Arc<str>, i32);

/// What a partition's worker updates as it goes: an atomic per settled record, a
/// lock only when the partition gets stuck or recovers.
#[derive(Debug)]
pub(crate) struct PartitionHealth {
    topic: Arc<str>,
    partition: i32,
    /// -1 until a record is settled.
    last_settled: AtomicI64,
    stuck: Mutex<Option<Stuck>>,
}

#[derive(Debug, Clone)]
struct Stuck {
    offset: i64,
    since: SystemTime,
    reason: String,
}

impl PartitionHealth {
    pub(crate) fn settled(&self, offset: i64) {
        self.last_settled.store(offset, Ordering::Relaxed);
    }

    pub(crate) fn last_settled(&self) -> Option<i64> {
        let last = self.last_settled.load(Ordering::Relaxed);
        (last >= 0).then_some(last)
    }

    pub(crate) fn stuck_at(&self, offset: i64, reason: String) {
        let mut stuck = lock(&self.stuck);
        if stuck.is_none() {
            crate::telemetry::stuck_partitions(1.0);
            *stuck = Some(Stuck {
                offset,
                since: SystemTime::now(),
                reason,
            });
        }
    }

    pub(crate) fn unstuck(&self) {
        if lock(&self.stuck).take().is_some() {
            crate::telemetry::stuck_partitions(-1.0);
        }
    }

    fn status(&self) -> PartitionStatus {
        PartitionStatus {
            topic: self.topic.to_string(),
            partition: self.partition,
            state: match lock(&self.stuck).clone() {
                None => PartitionState::Running,
                Some(s) => PartitionState::Stuck {
                    offset: s.offset,
                    since: s.since,
                    reason: s.reason,
                },
            },
            last_settled_offset: self.last_settled(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere mid-update of plain data; go on.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One assigned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionStatus {
    /// The partition's topic.
    pub topic: String,
    /// The partition's number.
    pub partition: i32,
    /// Whether it makes progress, and why not.
    pub state: PartitionState,
    /// The offset of the last record handled or dead-lettered, if any.
    pub last_settled_offset: Option<i64>,
}

/// Whether a partition makes progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionState {
    /// Records are handled as they come.
    Running,
    /// A record can be neither handled nor dead-lettered: the partition waits (its
    /// later records are not taken) and retries the dead-letter send now and then.
    Stuck {
        /// The offset of the record it waits on.
        offset: i64,
        /// When the partition got stuck.
        since: SystemTime,
        /// Why (the dead-letter send's error, never the record's content).
        reason: String,
    },
}

impl Health {
    /// Whether the consumer is in its group and no partition is stuck.
    pub fn is_healthy(&self) -> bool {
        self.is_running() && self.stuck().is_empty()
    }

    /// Whether the consumer loop runs (between the start of `run` and its return).
    pub fn is_running(&self) -> bool {
        self.table.running.load(Ordering::Acquire)
    }

    /// The assigned partitions, by topic and partition.
    pub fn partitions(&self) -> Vec<PartitionStatus> {
        lock(&self.table.partitions)
            .values()
            .map(|p| p.status())
            .collect()
    }

    /// The partitions that are stuck.
    pub fn stuck(&self) -> Vec<PartitionStatus> {
        self.partitions()
            .into_iter()
            .filter(|p| p.state != PartitionState::Running)
            .collect()
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.table.running.store(running, Ordering::Release);
        if !running {
            lock(&self.table.partitions).clear();
        }
    }

    /// Starts tracking a newly assigned partition; its worker updates what this returns.
    pub(crate) fn assigned(&self, topic: &Arc<str>, partition: i32) -> Arc<PartitionHealth> {
        let health = Arc::new(PartitionHealth {
            topic: topic.clone(),
            partition,
            last_settled: AtomicI64::new(-1),
            stuck: Mutex::new(None),
        });
        lock(&self.table.partitions).insert((topic.clone(), partition), health.clone());
        health
    }

    pub(crate) fn revoked(&self, topic: &Arc<str>, partition: i32) {
        lock(&self.table.partitions).remove(&(topic.clone(), partition));
    }
}

/// A partition revoked while stuck is no longer stuck here.
impl Drop for PartitionHealth {
    fn drop(&mut self) {
        if lock(&self.stuck).is_some() {
            crate::telemetry::stuck_partitions(-1.0);
        }
    }
}
