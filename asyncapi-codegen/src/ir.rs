//! Stage 3 output: one model for AsyncAPI 2.x and 3.x documents.
//!
//! Directions are always from the point of view of the application the document
//! describes: `Send` means the application sends, `Receive` that it receives.

use serde_json::Value;

use crate::resolve::NodeId;

#[derive(Debug, Clone)]
pub struct Document {
    /// The `asyncapi` field, e.g. `2.6.0`.
    pub asyncapi_version: String,
    pub id: Option<String>,
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    pub default_content_type: Option<String>,
    pub servers: Vec<Server>,
    pub channels: Vec<Channel>,
    pub operations: Vec<Operation>,
    pub messages: Vec<Message>,
    pub security_schemes: Vec<SecurityScheme>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    /// 2.x `url`, or 3.x `host` + `pathname`.
    pub url: String,
    pub protocol: String,
    pub protocol_version: Option<String>,
    pub description: Option<String>,
    pub variables: Vec<ServerVariable>,
    pub security: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerVariable {
    pub name: String,
    pub default: Option<String>,
    pub allowed: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SecurityScheme {
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Channel {
    /// The channel's key (2.x) or id (3.x).
    pub id: String,
    pub node: NodeId,
    /// The address as written; `None` when 3.x leaves it null (unknown, dynamic).
    pub address: Option<String>,
    /// The Kafka topic (with `{parameter}` placeholders), or why there is none.
    pub topic: Result<String, String>,
    /// How the topic was derived, for the generated docs.
    pub topic_note: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub parameters: Vec<Parameter>,
    /// Indices into `Document::messages`, in document order.
    pub messages: Vec<usize>,
    /// What the channel's Kafka binding says of its topic.
    pub topic_binding: TopicBinding,
}

/// The topic settings of a channel's Kafka binding (`bindings.kafka`), used when the
/// topic is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicBinding {
    /// `partitions`: the topic's partition count.
    pub partitions: Option<i32>,
    /// `replicas`: the topic's replication factor.
    pub replicas: Option<i32>,
    /// `topicConfiguration`, as Kafka topic configs (`cleanup.policy` = `compact,delete`).
    pub config: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub description: Option<String>,
    /// `enum`, as the values appear in a topic.
    pub allowed: Vec<String>,
    pub default: Option<String>,
    /// The schema's `type` (2.x); 3.x parameters are strings.
    pub kind: ParameterKind,
    /// The schema's `pattern` (2.x).
    pub pattern: Option<String>,
    pub node: NodeId,
}

/// The Rust type of a channel parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    Integer,
    Number,
    Boolean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    Receive,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub node: NodeId,
    pub action: Action,
    /// Index into `Document::channels`.
    pub channel: usize,
    /// Indices into `Document::messages`.
    pub messages: Vec<usize>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub group_id: Option<String>,
    pub client_id: Option<String>,
    /// The 3.x `reply`: the operation's messages are requests answered on it.
    pub reply: Option<Reply>,
}

/// Where the answers to an operation's messages go (3.x `operation.reply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Index into `Document::channels` (`reply.channel`).
    pub channel: usize,
    /// The header a requester names its reply topic in: `reply.address.location`
    /// written as `$message.header#/<name>`.
    pub reply_to_header: Option<String>,
}

/// How a message's payload is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    /// AsyncAPI Schema / JSON Schema: typed.
    JsonSchema,
    /// Another `schemaFormat` (Avro, Protobuf, RAML, ...): carried as raw bytes.
    Opaque(String),
}

#[derive(Debug, Clone)]
pub struct Message {
    /// The name the generated type is built from.
    pub name: String,
    pub node: NodeId,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub content_type: String,
    pub payload: Option<(NodeId, Value)>,
    pub payload_format: PayloadFormat,
    pub headers: Option<(NodeId, Value)>,
    /// The Kafka message binding's `key` schema.
    pub key: Option<(NodeId, Value)>,
    /// `correlationId.location`, e.g. `$message.header#/correlationId`.
    pub correlation_id: Option<String>,
    /// `examples` with a payload: their name (or summary) and the payload.
    pub examples: Vec<(Option<String>, Value)>,
}
