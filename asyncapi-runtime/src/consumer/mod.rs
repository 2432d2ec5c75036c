//! The consumer-group member.
//!
//! A thread polls the group (rebalances, errors) and never runs handlers, so the member
//! is never expelled for a slow one. Each assigned partition has its own librdkafka
//! queue, read by its own worker: records are handled one at a time in partition
//! order, partitions progress concurrently, and a partition whose records cannot be
//! settled holds up no other. The workers of a consumer share one task unless it is
//! told otherwise (`PartitionTasks`): there, a handler that holds its thread holds up
//! the others meanwhile. Offsets are stored once a record was handled or
//! dead-lettered, committed by librdkafka's auto-commit, and committed synchronously
//! when partitions are revoked (after their workers stopped) and on shutdown.
//!
//! - `builder`: `Consumer`, its settings and `run`;
//! - `group`: the poll thread, start-up and shutdown;
//! - `rebalance`: starting and stopping partition workers as partitions come and go;
//! - `partition`: a partition's worker, reading its queue and storing offsets;
//! - `placement`: where workers run (one task for all, or a task each), and how long
//!   a worker keeps its task's thread;
//! - `settle`: what becomes of one record (handled, dead-lettered, left), panics contained;
//! - `route`: decoding, validation and retries for one channel;
//! - `dead_letter`: the dead-letter send and its failure policy;
//! - `health`: what the consumer reports about its partitions;
//! - `handler`: what user code plugs in (handlers, listeners, their context);
//! - `extract`: what a listener takes after the message (context, state, key, headers);
//! - `subscription`: typed streams of records with ack and nack;
//! - `headers`: reading header names that may not be UTF-8.

mod builder;
pub(crate) mod dead_letter;
mod extract;
mod group;
mod handler;
pub(crate) mod headers;
mod health;
mod partition;
mod placement;
mod rebalance;
mod reply;
pub(crate) mod route;
pub(crate) mod settle;
mod subscription;

pub use builder::Consumer;
pub use dead_letter::{
    DeadLetterFailure, DLQ_ATTEMPTS_HEADER, DLQ_ENVELOPE_OMITTED_HEADER, DLQ_ERROR_HEADER,
    DLQ_OFFSET_HEADER, DLQ_PARTITION_HEADER, DLQ_PAYLOAD_OMITTED_HEADER, DLQ_REASON_HEADER,
    DLQ_TOPIC_HEADER, DLQ_UNREADABLE_HEADER,
};
pub use extract::{FromRecord, Headers, Key, RecordParts};
pub use handler::{
    Handler, HandlerError, IntoHandlerResult, Listener, ListenerOptions, MessageContext, Shared,
    State, StateRequirement,
};
pub(crate) use headers::read_headers;
pub use health::{Health, PartitionState, PartitionStatus};
pub use placement::PartitionTasks;
pub use reply::{ReplyHandler, ReplyListener};
pub use route::RetryPolicy;
pub use subscription::{Acker, Received, Subscription};
