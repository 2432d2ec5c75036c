//! Request/reply (the AsyncAPI 3 operation `reply`): a requester sends a request with a
//! fresh correlation id and waits for the reply that carries it back; a replier's
//! handler returns the reply, which the runtime sends with the correlation id copied.
//!
//! A reply channel with parameters is addressed from the request: its parameters are the
//! request channel's parameters of the same names, or, where the document lets the
//! requester name the reply topic (`reply.address`), values the requester chooses. A
//! reply channel whose address is `null` has no topic of its own: the requester names
//! the whole topic ([`Requester::request_on_topic`]).
//!
//! One reply inbox per reply topic and requester: a consumer outside any group,
//! assigned every partition of the reply topic at its end offset *before* the first
//! request goes out, so no reply can be missed; replies are matched to waiting requests
//! by correlation id, and a reply nobody waits for any more (its request timed out) is
//! counted as late and dropped. An inbox lives as long as its requester: a requester
//! that names many distinct reply topics (one per desk, say) holds a consumer for
//! each, and on Kafka each reply topic must exist before its first request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{oneshot, OnceCell};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, KafkaConfig};
use crate::consumer::read_headers;
use crate::contract::{Channel, ChannelParameters, Message, RawHeader, Receives, Sends};
use crate::error::{DecodeError, KafkaError, SendError};
use crate::producer::{Outgoing, Producer, CONTENT_TYPE_HEADER};
use crate::topic::{channel_topic, is_topic_name, TopicError};

/// How long [`Requester::request`] waits for a reply unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Metadata and watermark queries when an inbox starts.
const INBOX_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel whose messages are requests: whoever receives one answers on `Reply`,
/// with the request's correlation id copied (generated from the operation's `reply`).
#[diagnostic::on_unimplemented(
    message = "channel `{Self}` has no `reply`: nothing answers its messages",
    label = "a listener of this channel returns `()` or `Result<(), E>`",
    note = "a listener returns a reply only on a channel whose operation declares `reply`"
)]
pub trait Request: Channel {
    /// The channel replies travel on (`reply.channel`).
    type Reply: Channel;
    /// The header the correlation id travels in, on the request and on its reply (the
    /// message's `correlationId` location `$message.header#/<name>`, else
    /// `correlation-id`).
    const CORRELATION_HEADER: &'static str;
    /// The header a requester names its reply topic in (`reply.address` given as
    /// `$message.header#/<name>`); `None`: replies go to the reply channel's topic.
    const REPLY_TO_HEADER: Option<&'static str>;
    /// The reply channel names no topic (its address is `null`): each requester names
    /// its reply topic ([`Requester::request_on_topic`]), and a request that names none
    /// cannot be answered.
    const REPLY_TOPIC_NAMED_BY_REQUESTER: bool = false;
}

/// Marks the requests a generated side sends (and whose replies it reads).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not send requests on channel `{C}`",
    label = "this side answers these requests, or the channel has no `reply`",
    note = "request on a channel whose operation has a `reply`, from the side that sends on it"
)]
pub trait Requests<C: Request>: Sends<C> + Receives<C::Reply> {}

/// Marks the requests a generated side answers.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not answer requests on channel `{C}`",
    label = "this side sends these requests, or the channel has no `reply`",
    note = "reply on the side that receives the requests (the other side of the document)"
)]
pub trait Replies<C: Request>: Receives<C> + Sends<C::Reply> {}

/// Without a side, any request may be sent and answered.
impl<C: Request> Requests<C> for () {}
impl<C: Request> Replies<C> for () {}

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request record could not be sent.
    #[error("the request could not be sent: {0}")]
    Send(#[from] SendError),
    /// No reply came within the given time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The reply came but could not be decoded as the reply channel's message.
    #[error("the reply could not be decoded: {0}")]
    Decode(#[from] DecodeError),
    /// Where the reply should go could not be worked out.
    #[error("the reply topic could not be named: {0}")]
    ReplyTopic(#[from] ReplyTopicError),
    /// The consumer reading the reply topic could not be set up.
    #[error("the reply inbox on `{topic}` could not start: {reason}")]
    Inbox {
        /// The reply topic the inbox reads.
        topic: String,
        /// Why the inbox could not start.
        reason: String,
    },
    /// The reply inbox shut down while the request was waiting.
    #[error("the reply inbox stopped before the reply came")]
    InboxStopped,
}

/// Why the reply topic of a request could not be named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyTopicError {
    /// The reply channel has a parameter the request channel lacks, so the request's
    /// parameters do not name the reply topic.
    #[error("parameter `{name}` of reply channel `{reply}` is not a parameter of request channel `{request}`{}", choose_hint(*.requester_chooses))]
    Unmatched {
        /// The reply channel's parameter.
        name: &'static str,
        /// The reply channel (`Channel::ID`).
        reply: &'static str,
        /// The request channel (`Channel::ID`).
        request: &'static str,
        /// The document lets the requester name the reply topic
        /// ([`Requester::request_replying_to`]).
        requester_chooses: bool,
    },
    /// The reply channel has no topic of its own (its address is `null`): the
    /// requester names one with [`Requester::request_on_topic`].
    #[error("replies to requests on channel `{0}` go to a topic the requester names (the reply channel has no address): use `request_on_topic`")]
    TopicNotNamed(&'static str),
    /// The request was given no parameters, and the reply topic's come from them.
    #[error("the request on channel `{0}` was given no parameters (`Outgoing::parameters`), and the reply topic's parameters are taken from them")]
    RequestParameters(&'static str),
    /// Requests on this channel carry no reply-to header (the operation's `reply` has
    /// no `address`): replies go to the reply channel's topic with the request's
    /// parameters, which the requester cannot change.
    #[error("requests on channel `{0}` carry no reply-to header (the operation's `reply` has no `address`): the requester cannot choose the reply topic; use `request`")]
    AddressFixed(&'static str),
    /// The reply topic a requester named is not a Kafka topic name.
    #[error("`{0}` is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)")]
    NotATopic(String),
    /// A value of the request's parameters is not a value of the reply channel's.
    #[error("a request parameter does not fit the reply channel: {0}")]
    Parameter(#[from] DecodeError),
    /// The reply topic could not be built from the parameter values.
    #[error(transparent)]
    Topic(#[from] TopicError),
}

fn choose_hint(requester_chooses: bool) -> &'static str {
    if requester_chooses {
        "; name the reply topic with `request_replying_to`"
    } else {
        ""
    }
}

/// The reply topic of a request on `C` with parameters `request`: the reply channel's
/// topic, its parameters taken from the request's parameters of the same names.
pub(crate) fn derived_reply_topic<C: Request>(
    request: Option<&C::Parameters>,
) -> Result<Cow<'static, str>, ReplyTopicError> {
    if !<C::Reply as Channel>::TOPIC.contains('{') {
        return Ok(Cow::Borrowed(<C::Reply as Channel>::TOPIC));
    }
    let values = request.map(ChannelParameters::values).unwrap_or_default();
    let mut picked = Vec::new();
    for &name in <C::Reply as Channel>::PARAMETER_NAMES {
        let index = C::PARAMETER_NAMES.iter().position(|n| *n == name).ok_or(
            ReplyTopicError::Unmatched {
                name,
                reply: <C::Reply as Channel>::ID,
                request: C::ID,
                requester_chooses: C::REPLY_TO_HEADER.is_some(),
            },
        )?;
        let value = values
            .get(index)
            .ok_or(ReplyTopicError::RequestParameters(C::ID))?;
        picked.push(value.as_ref());
    }
    let parameters =
        <<C::Reply as Channel>::Parameters as ChannelParameters>::from_values(&picked)?;
    Ok(channel_topic::<C::Reply>(Some(&parameters))?)
}

/// A reply as it came off the reply topic, before decoding.
struct ReplyRecord {
    payload: Vec<u8>,
    content_type: Option<String>,
}

/// Requests waiting for their replies on one reply topic.
struct Inbox {
    /// The headers replies carry correlation ids in: one per request channel answered
    /// on this topic (usually one for all).
    correlation_headers: Mutex<Vec<&'static str>>,
    pending: Mutex<HashMap<String, oneshot::Sender<ReplyRecord>>>,
    /// The requester's count of late replies, shared by its inboxes.
    late: Arc<AtomicU64>,
}

impl Inbox {
    fn new(late: Arc<AtomicU64>) -> Self {
        Inbox {
            correlation_headers: Mutex::default(),
            pending: Mutex::default(),
            late,
        }
    }

    /// Replies to requests of a channel whose correlation ids travel in `header` come
    /// here too (request channels may share a reply topic, not their header).
    fn accept(&self, header: &'static str) {
        let mut headers = self.correlation_headers();
        if !headers.contains(&header) {
            headers.push(header);
        }
    }

    /// Waits for the reply carrying `correlation_id`; the wait ends (and its entry
    /// goes) when the returned guard drops, however the request ends.
    fn wait_for(&self, correlation_id: String) -> (oneshot::Receiver<ReplyRecord>, Waiting<'_>) {
        let (tx, rx) = oneshot::channel();
        self.pending().insert(correlation_id.clone(), tx);
        let waiting = Waiting {
            inbox: self,
            correlation_id,
        };
        (rx, waiting)
    }

    /// Hands a reply to its request, or counts it as late.
    fn deliver(&self, correlation_id: &str, reply: ReplyRecord) {
        let waiting = self.pending().remove(correlation_id);
        if waiting.is_none_or(|tx| tx.send(reply).is_err()) {
            self.late.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("a reply arrived that no request waits for (late or foreign)");
        }
    }

    /// Hands a record of the reply topic to the request it answers.
    fn receive(&self, headers: &[RawHeader], payload: Vec<u8>) {
        let header = |name: &str| {
            crate::contract::header_value(headers, name)
                .and_then(|value| String::from_utf8(value.to_vec()).ok())
        };
        let ids: Vec<String> = self
            .correlation_headers()
            .iter()
            .filter_map(|name| header(name))
            .collect();
        // A reply may carry several of the accepted headers (a replier that copies the
        // request's headers): the one whose id a request waits for is its own.
        let waited = {
            let pending = self.pending();
            ids.iter()
                .find(|id| pending.contains_key(id.as_str()))
                .cloned()
        };
        let Some(correlation_id) = waited.or_else(|| ids.into_iter().next()) else {
            self.late.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("a record on the reply topic carries no correlation id");
            return;
        };
        let reply = ReplyRecord {
            payload,
            content_type: header(CONTENT_TYPE_HEADER),
        };
        self.deliver(&correlation_id, reply);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<ReplyRecord>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn correlation_headers(&self) -> std::sync::MutexGuard<'_, Vec<&'static str>> {
        self.correlation_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's place among those waiting: a request that ends without its reply (a
/// send error, its time limit, or its future dropped by the caller) leaves none behind.
struct Waiting<'i> {
    inbox: &'i Inbox,
    correlation_id: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.inbox.pending().remove(&self.correlation_id);
    }
}

struct RequesterShared {
    config: KafkaConfig,
    /// One inbox per reply topic, started by the first request that needs it (a slot
    /// per topic, so one inbox's start does not hold up requests to the others).
    inboxes: Mutex<HashMap<String, Arc<OnceCell<Arc<Inbox>>>>>,
    /// Stops the inbox tasks when the last requester clone drops.
    stop: CancellationToken,
    /// Replies no request waited for, over every inbox.
    late: Arc<AtomicU64>,
}

impl Drop for RequesterShared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sends requests and waits for their replies. `S` is a generated side: it must send on
/// the request channel and receive from the reply channel. Cheap to clone; the inbox of
/// a reply topic starts with the first request that needs it.
pub struct Requester<S = ()> {
    shared: Arc<RequesterShared>,
    _side: PhantomData<fn() -> S>,
}

impl<S> Clone for Requester<S> {
    fn clone(&self) -> Self {
        Requester {
            shared: self.shared.clone(),
            _side: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Requester<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester").finish_non_exhaustive()
    }
}

impl Requester<()> {
    /// A requester whose inboxes connect with `config`.
    pub fn new(config: KafkaConfig) -> Self {
        Requester {
            shared: Arc::new(RequesterShared {
                config,
                inboxes: Mutex::default(),
                late: Arc::default(),
                stop: CancellationToken::new(),
            }),
            _side: PhantomData,
        }
    }
}

impl<S> Requester<S> {
    /// The same requester, restricted to the requests side `T` makes.
    pub fn side<T>(self) -> Requester<T> {
        Requester {
            shared: self.shared,
            _side: PhantomData,
        }
    }

    /// Sends `out` through `producer` with a new correlation id and waits up to
    /// `timeout` for its reply, on the reply channel's topic (its parameters, if it
    /// has any, are the request's parameters of the same names).
    pub async fn request<C: Request>(
        &self,
        producer: &Producer<S>,
        out: Outgoing<'_, C>,
        timeout: Duration,
    ) -> Result<<C::Reply as Channel>::Message, RequestError>
    where
        S: Requests<C>,
    {
        if C::REPLY_TOPIC_NAMED_BY_REQUESTER {
            return Err(ReplyTopicError::TopicNotNamed(C::ID).into());
        }
        let reply_topic = derived_reply_topic::<C>(out.given_parameters())?;
        self.exchange(producer, out, reply_topic, timeout).await
    }

    /// [`request`](Self::request) with the reply channel's parameters chosen by the
    /// requester: the reply topic they name travels in the request's reply-to header
    /// (the document's `reply.address`), where the replier sends the reply.
    pub async fn request_replying_to<C: Request>(
        &self,
        producer: &Producer<S>,
        out: Outgoing<'_, C>,
        reply_parameters: &<C::Reply as Channel>::Parameters,
        timeout: Duration,
    ) -> Result<<C::Reply as Channel>::Message, RequestError>
    where
        S: Requests<C>,
    {
        if C::REPLY_TO_HEADER.is_none() {
            return Err(ReplyTopicError::AddressFixed(C::ID).into());
        }
        if C::REPLY_TOPIC_NAMED_BY_REQUESTER {
            return Err(ReplyTopicError::TopicNotNamed(C::ID).into());
        }
        let reply_topic =
            channel_topic::<C::Reply>(Some(reply_parameters)).map_err(ReplyTopicError::from)?;
        self.exchange(producer, out, reply_topic, timeout).await
    }

    /// [`request`](Self::request) with its reply on `reply_topic`, named in the
    /// request's reply-to header: for a reply channel whose address is `null` (unknown
    /// until run time), where each requester names its own reply topic. On Kafka the
    /// topic must exist before the request. Each distinct topic gets a reply inbox (a
    /// consumer) for the requester's life: name a topic per requester (an instance, a
    /// desk), not per request.
    pub async fn request_on_topic<C: Request>(
        &self,
        producer: &Producer<S>,
        out: Outgoing<'_, C>,
        reply_topic: &str,
        timeout: Duration,
    ) -> Result<<C::Reply as Channel>::Message, RequestError>
    where
        S: Requests<C>,
    {
        if C::REPLY_TO_HEADER.is_none() {
            return Err(ReplyTopicError::AddressFixed(C::ID).into());
        }
        if !is_topic_name(reply_topic) {
            return Err(ReplyTopicError::NotATopic(reply_topic.to_owned()).into());
        }
        let reply_topic = Cow::Owned(reply_topic.to_owned());
        self.exchange(producer, out, reply_topic, timeout).await
    }

    /// Sends the request, its reply expected on `reply_topic`, and waits for the reply.
    async fn exchange<C: Request>(
        &self,
        producer: &Producer<S>,
        out: Outgoing<'_, C>,
        reply_topic: Cow<'static, str>,
        timeout: Duration,
    ) -> Result<<C::Reply as Channel>::Message, RequestError>
    where
        S: Requests<C>,
    {
        let inbox = self.inbox(&reply_topic).await?;
        inbox.accept(C::CORRELATION_HEADER);
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let mut out = out.runtime_header(C::CORRELATION_HEADER, correlation_id.clone());
        if let Some(reply_to) = C::REPLY_TO_HEADER {
            out = out.runtime_header(reply_to, reply_topic.as_bytes());
        }
        let (reply, _waiting) = inbox.wait_for(correlation_id);
        producer.send(out).await?;
        let record = match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(record)) => record,
            Ok(Err(_)) => return Err(RequestError::InboxStopped),
            Err(_) => return Err(RequestError::Timeout(timeout)),
        };
        Ok(<<C::Reply as Channel>::Message as Message>::decode(
            &record.payload,
            record.content_type.as_deref(),
        )?)
    }

    /// Replies that came after their request stopped waiting (timed out), or that no
    /// request of this requester sent.
    pub fn late_replies(&self) -> u64 {
        self.shared.late.load(Ordering::Relaxed)
    }

    /// Requests waiting for their replies now, over every reply topic.
    pub fn pending_requests(&self) -> usize {
        let inboxes = self
            .shared
            .inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inboxes
            .values()
            .filter_map(|slot| slot.get())
            .map(|inbox| inbox.pending().len())
            .sum()
    }

    /// The inbox of `topic`, started by the first request that needs it; a start that
    /// failed is tried again by the next request.
    async fn inbox(&self, topic: &str) -> Result<Arc<Inbox>, RequestError> {
        let slot = {
            let mut inboxes = self
                .shared
                .inboxes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Every request looks its topic up; only the first one for a topic owns a
            // copy of the name.
            match inboxes.get(topic) {
                Some(slot) => slot.clone(),
                None => inboxes.entry(topic.to_owned()).or_default().clone(),
            }
        };
        slot.get_or_try_init(|| self.start_inbox(topic))
            .await
            .cloned()
    }

    /// A new inbox reading `topic` from its current end, and the task feeding it.
    async fn start_inbox(&self, topic: &str) -> Result<Arc<Inbox>, RequestError> {
        let inbox = Arc::new(Inbox::new(self.shared.late.clone()));
        #[cfg(feature = "testing")]
        if let Some(memory) = self.shared.config.memory() {
            let reader = inbox.clone();
            crate::testing::follow_topic(
                memory,
                topic.to_owned(),
                self.shared.stop.clone(),
                move |record| reader.receive(&record.headers, record.payload.clone()),
            );
            return Ok(inbox);
        }
        let consumer = inbox_consumer(&self.shared.config, topic)
            .await
            .map_err(|e| RequestError::Inbox {
                topic: topic.to_owned(),
                reason: e.to_string(),
            })?;
        tokio::spawn(read_replies(
            consumer,
            inbox.clone(),
            self.shared.stop.clone(),
        ));
        Ok(inbox)
    }
}

#[derive(Debug, thiserror::Error)]
enum InboxError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("the reply topic does not exist")]
    NoTopic,
}

/// A consumer outside any group, assigned every partition of `topic` at its current
/// end: replies to requests sent after this returns are read, nothing older.
async fn inbox_consumer(config: &KafkaConfig, topic: &str) -> Result<StreamConsumer, InboxError> {
    let group = format!("asyncapi-replies-{}", uuid::Uuid::new_v4().simple());
    let consumer: StreamConsumer = config
        .client_config(
            &[],
            &[
                ("group.id", group.as_str()),
                ("enable.auto.commit", "false"),
            ],
        )?
        .create()?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = consumer.fetch_metadata(Some(&topic), INBOX_START_TIMEOUT)?;
        let partitions = metadata
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0)
            .ok_or(InboxError::NoTopic)?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            let (_, high) = consumer.fetch_watermarks(&topic, partition, INBOX_START_TIMEOUT)?;
            assignment.add_partition_offset(&topic, partition, Offset::Offset(high))?;
        }
        consumer.assign(&assignment)?;
        Ok(consumer)
    })
    .await
    .unwrap_or(Err(InboxError::Kafka(KafkaError::Canceled)))
}

/// Reads replies until `stop`, handing each to the request it answers.
async fn read_replies(consumer: StreamConsumer, inbox: Arc<Inbox>, stop: CancellationToken) {
    let mut previous_headers: Arc<[RawHeader]> = Arc::from([]);
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => break,
            received = consumer.recv() => received,
        };
        let message = match received {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "reply inbox: consume error");
                continue;
            }
        };
        // Header names are read as bytes: a foreign record cannot make this panic.
        let read = read_headers(&message, &mut previous_headers);
        inbox.receive(
            &read.headers,
            message.payload().unwrap_or_default().to_vec(),
        );
    }
    // Closing a consumer waits for librdkafka: not on an async worker thread.
    drop(tokio::task::spawn_blocking(move || drop(consumer)));
}
