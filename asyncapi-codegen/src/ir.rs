//! One model for AsyncAPI 2.x and 3.x documents, as normalisation leaves it.
//!
//! Directions are always from the point of view of the application the document
//! describes: `Send` means the application sends, `Receive` that it receives.

use serde_json::Value;

pub use crate::resolve::NodeId;

/// A document as the expansion understood it: its parts in document order, 2.x and
/// 3.x alike.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Document {
    /// The `asyncapi` field, e.g. `2.6.0`.
    pub asyncapi_version: String,
    /// `id` (the application's identifier URI), when written.
    pub id: Option<String>,
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: Option<String>,
    /// `defaultContentType`: the content type of messages that declare none.
    pub default_content_type: Option<String>,
    /// `servers`, in document order.
    pub servers: Vec<Server>,
    /// The channels, in document order.
    pub channels: Vec<Channel>,
    /// The operations: 3.x `operations`, or 2.x `publish`/`subscribe` turned around
    /// to the application's point of view.
    pub operations: Vec<Operation>,
    /// Every message the channels carry, each once.
    pub messages: Vec<Message>,
    /// `components.securitySchemes`.
    pub security_schemes: Vec<SecurityScheme>,
}

/// A server the document lists (`servers.<name>`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Server {
    /// The server's key under `servers`.
    pub name: String,
    /// 2.x `url`, or 3.x `host` + `pathname`.
    pub url: String,
    /// `protocol`, e.g. `kafka` or `kafka-secure`.
    pub protocol: String,
    /// `protocolVersion`.
    pub protocol_version: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `variables` used in the URL.
    pub variables: Vec<ServerVariable>,
    /// The names of the security schemes `security` refers to.
    pub security: Vec<String>,
}

/// A variable of a server URL (`servers.<name>.variables.<name>`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerVariable {
    /// The variable's name, as written between braces in the URL.
    pub name: String,
    /// `default`.
    pub default: Option<String>,
    /// `enum`: the values it may take (empty: any).
    pub allowed: Vec<String>,
    /// `description`.
    pub description: Option<String>,
}

/// A security scheme (`components.securitySchemes.<name>`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SecurityScheme {
    /// The scheme's key.
    pub name: String,
    /// `type`, e.g. `scramSha256`, `plain`, `X509`.
    pub kind: String,
    /// `description`.
    pub description: Option<String>,
}

/// A channel: one Kafka topic (or a family of them when it has parameters).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Channel {
    /// The channel's key (2.x) or id (3.x).
    pub id: String,
    /// Where the channel stands in the document (for diagnostics).
    pub node: NodeId,
    /// The address as written; `None` when 3.x leaves it null (unknown, dynamic).
    pub address: Option<String>,
    /// The Kafka topic (with `{parameter}` placeholders), or why there is none.
    pub topic: Result<String, String>,
    /// The document names no topic: the address is `null` and there is no
    /// `bindings.kafka.topic` (the topic is then the channel id's, unless a requester
    /// names its reply topic).
    pub names_no_topic: bool,
    /// How the topic was derived, for the generated docs.
    pub topic_note: String,
    /// `title` (3.x).
    pub title: Option<String>,
    /// `summary` (3.x).
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `parameters`, in the order they appear in the address.
    pub parameters: Vec<Parameter>,
    /// Indices into `Document::messages`, in document order.
    pub messages: Vec<usize>,
    /// What the channel's Kafka binding says of its topic.
    pub topic_binding: TopicBinding,
}

/// The topic settings of a channel's Kafka binding (`bindings.kafka`), used when the
/// topic is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicBinding {
    /// `partitions`: the topic's partition count.
    pub partitions: Option<i32>,
    /// `replicas`: the topic's replication factor.
    pub replicas: Option<i32>,
    /// `topicConfiguration`, as Kafka topic configs (`cleanup.policy` = `compact,delete`).
    pub config: Vec<(String, String)>,
}

/// A channel parameter: a `{name}` placeholder of the address.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Parameter {
    /// The parameter's name, as written in the address.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `enum`, as the values appear in a topic.
    pub allowed: Vec<String>,
    /// `default`.
    pub default: Option<String>,
    /// The schema's `type` (2.x); 3.x parameters are strings.
    pub kind: ParameterKind,
    /// The schema's `pattern` (2.x).
    pub pattern: Option<String>,
    /// Where the parameter stands in the document (for diagnostics).
    pub node: NodeId,
}

/// The Rust type of a channel parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterKind {
    /// Any string (3.x, or 2.x `type: string`).
    String,
    /// 2.x `type: integer`.
    Integer,
    /// 2.x `type: number`.
    Number,
    /// 2.x `type: boolean`.
    Boolean,
}

/// What the application does on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The application sends (3.x `send`, 2.x `subscribe`).
    Send,
    /// The application receives (3.x `receive`, 2.x `publish`).
    Receive,
}

/// An operation: the application sends or receives messages on one channel.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Operation {
    /// The operation's key (3.x) or `operationId` (2.x; derived when absent).
    pub id: String,
    /// Where the operation stands in the document (for diagnostics).
    pub node: NodeId,
    /// Whether the application sends or receives.
    pub action: Action,
    /// Index into `Document::channels`.
    pub channel: usize,
    /// Indices into `Document::messages`.
    pub messages: Vec<usize>,
    /// `title`.
    pub title: Option<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// The Kafka operation binding's `groupId` (its `const` or `enum[0]`).
    pub group_id: Option<String>,
    /// The Kafka operation binding's `clientId` (its `const` or `enum[0]`).
    pub client_id: Option<String>,
    /// The 3.x `reply`: the operation's messages are requests answered on it.
    pub reply: Option<Reply>,
}

/// Where the answers to an operation's messages go (3.x `operation.reply`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// Index into `Document::channels` (`reply.channel`).
    pub channel: usize,
    /// The header a requester names its reply topic in: `reply.address.location`
    /// written as `$message.header#/<name>`.
    pub reply_to_header: Option<String>,
}

/// How a requester names the topic its replies come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyAddressing {
    /// The reply channel's topic, its parameters (if any) the request's of the same names.
    FromRequest,
    /// The reply channel has parameters the request lacks and the reply's `address`
    /// is a header the requester fills in: the requester chooses them.
    ChosenByRequester,
    /// The reply channel has parameters the request lacks and nothing carries them:
    /// no reply can be addressed.
    Unaddressable,
    /// The reply channel names no topic (its address is `null`, unknown until run
    /// time, and no binding names one) and the reply's `address` is a header: the
    /// requester names the whole reply topic.
    TopicChosenByRequester,
}

impl Reply {
    /// How replies to requests on `request` are addressed (`channels`: the document's,
    /// among them this reply's channel).
    pub fn addressing(&self, request: &Channel, channels: &[Channel]) -> ReplyAddressing {
        if channels[self.channel].names_no_topic && self.reply_to_header.is_some() {
            ReplyAddressing::TopicChosenByRequester
        } else if self.unmatched_parameters(request, channels).is_empty() {
            ReplyAddressing::FromRequest
        } else if self.reply_to_header.is_some() {
            ReplyAddressing::ChosenByRequester
        } else {
            ReplyAddressing::Unaddressable
        }
    }

    /// The `{placeholders}` of the reply channel's topic that the topic of `request`
    /// lacks: the values a request's parameters cannot give. Read from the topics, as
    /// the runtime reads them (`Channel::PARAMETER_NAMES`).
    pub fn unmatched_parameters<'d>(
        &self,
        request: &Channel,
        channels: &'d [Channel],
    ) -> Vec<&'d str> {
        let of_request = request.topic_placeholders();
        channels[self.channel]
            .topic_placeholders()
            .into_iter()
            .filter(|name| !of_request.contains(name))
            .collect()
    }
}

impl Document {
    /// The operations whose messages are requests, one per request channel (the first
    /// in document order). A reply on the request's own channel is left out: a consumer
    /// of that topic would read its own replies as requests (`validate` warns).
    pub fn request_operations(&self) -> Vec<(&Operation, &Reply)> {
        let mut seen = Vec::new();
        self.operations
            .iter()
            .filter_map(|op| op.reply.as_ref().map(|reply| (op, reply)))
            .filter(|(op, reply)| reply.channel != op.channel)
            .filter(|(op, _)| {
                let first = !seen.contains(&op.channel);
                seen.push(op.channel);
                first
            })
            .collect()
    }
}

impl Document {
    /// Whether channel `index` is only ever a reply channel whose topic each requester
    /// names ([`ReplyAddressing::TopicChosenByRequester`]): it needs no topic of its own.
    pub fn topic_named_by_requesters(&self, index: usize) -> bool {
        let mut replies = self
            .operations
            .iter()
            .filter_map(|op| Some((op, op.reply.as_ref()?)))
            .filter(|(_, reply)| reply.channel == index)
            .peekable();
        replies.peek().is_some()
            && replies.all(|(op, reply)| {
                reply.addressing(&self.channels[op.channel], &self.channels)
                    == ReplyAddressing::TopicChosenByRequester
            })
            && self.operations.iter().all(|op| op.channel != index)
    }
}

impl Channel {
    /// The `{placeholders}` of the channel's topic, in order (none when it has no
    /// topic): the parameters the runtime reads (`Channel::PARAMETER_NAMES`).
    pub fn topic_placeholders(&self) -> Vec<&str> {
        self.topic
            .as_deref()
            .map(asyncapi_syntax::address::placeholders)
            .unwrap_or_default()
    }
}

/// How a message's payload is described.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadFormat {
    /// AsyncAPI Schema / JSON Schema: typed.
    JsonSchema,
    /// Another `schemaFormat` (Avro, Protobuf, RAML, ...): carried as raw bytes.
    Opaque(String),
}

/// A message a channel carries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// The name the generated type is built from.
    pub name: String,
    /// Where the message stands in the document (for diagnostics).
    pub node: NodeId,
    /// `title`.
    pub title: Option<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `contentType`, or the document's `defaultContentType`, or `application/json`.
    pub content_type: String,
    /// Where the `payload` schema stands (as written: it may be a `$ref`).
    pub payload: Option<NodeId>,
    /// How the payload is described (`schemaFormat`).
    pub payload_format: PayloadFormat,
    /// Where the `headers` schema stands.
    pub headers: Option<NodeId>,
    /// Where the Kafka message binding's `key` schema stands.
    pub key: Option<NodeId>,
    /// `correlationId.location`, e.g. `$message.header#/correlationId`.
    pub correlation_id: Option<String>,
    /// `examples` with a payload: their name (or summary) and the payload.
    pub examples: Vec<(Option<String>, Value)>,
}
