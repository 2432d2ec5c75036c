//! Stage 3: turn a resolved AsyncAPI 2.x or 3.x document into the IR.

use std::borrow::Cow;
use std::collections::HashMap;

use asyncapi_syntax::address::placeholders;
use heck::ToUpperCamelCase;
use serde_json::{Map, Value};

use crate::diagnostics::Report;
use crate::ir::*;
use crate::resolve::{NodeId, Resolver, NULL};
use crate::topic::kafka_topic;
use crate::validate::Version;

/// Builds the IR, reporting every problem found on the way (the document is read to
/// the end).
pub struct Normalizer<'r, 'p> {
    r: &'r Resolver,
    root: NodeId,
    major: u32,
    report: &'p mut Report,
    messages: Vec<Message>,
    message_index: HashMap<NodeId, usize>,
    default_content_type: Option<String>,
}

/// Reads the document at `root`, whose `asyncapi` version `validate::version` accepted,
/// into the IR.
pub fn normalize(r: &Resolver, root: &NodeId, version: &Version, report: &mut Report) -> Document {
    let doc = r.get(root).unwrap_or(&NULL);
    let mut n = Normalizer {
        r,
        root: root.clone(),
        major: version.major,
        report,
        messages: Vec::new(),
        message_index: HashMap::new(),
        default_content_type: str_at(doc, "defaultContentType"),
    };
    let info = doc.get("info").unwrap_or(&NULL);
    let security_schemes = n.security_schemes();
    let servers = n.servers();
    let (channels, operations) = if version.major == 2 {
        n.v2_channels()
    } else {
        n.v3_channels_and_operations()
    };
    n.component_messages();
    Document {
        asyncapi_version: version.text.clone(),
        id: str_at(doc, "id"),
        title: str_at(info, "title").unwrap_or_else(|| "AsyncAPI document".to_owned()),
        version: str_at(info, "version").unwrap_or_default(),
        description: str_at(info, "description"),
        default_content_type: n.default_content_type.clone(),
        servers,
        channels,
        operations,
        messages: std::mem::take(&mut n.messages),
        security_schemes,
    }
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The keys of a mapping (none for anything else).
fn keys(v: &Value) -> impl Iterator<Item = String> + '_ {
    v.as_object().into_iter().flat_map(|m| m.keys().cloned())
}

impl<'r> Normalizer<'r, '_> {
    /// Follows a reference and records any failure.
    fn node(&mut self, id: &NodeId) -> Option<(NodeId, &'r Value)> {
        match self.r.node(id) {
            Ok(n) => Some(n),
            Err(e) => {
                self.report.error(e);
                None
            }
        }
    }

    fn security_schemes(&mut self) -> Vec<SecurityScheme> {
        let comps = self.root.child("components").child("securitySchemes");
        let Some((id, v)) = self.node(&comps) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in keys(v) {
            let Some((_, s)) = self.node(&id.child(&name)) else {
                continue;
            };
            out.push(SecurityScheme {
                name,
                kind: str_at(s, "type").unwrap_or_default(),
                description: str_at(s, "description"),
            });
        }
        out
    }

    fn servers(&mut self) -> Vec<Server> {
        let list = self.root.child("servers");
        let Some((list, v)) = self.node(&list) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in keys(v) {
            let Some((sid, s)) = self.node(&list.child(&name)) else {
                continue;
            };
            let url = if self.major == 2 {
                str_at(s, "url").unwrap_or_default()
            } else {
                format!(
                    "{}{}",
                    str_at(s, "host").unwrap_or_default(),
                    str_at(s, "pathname").unwrap_or_default()
                )
            };
            let mut variables = Vec::new();
            if let Some((vid, vars)) = self.node(&sid.child("variables")) {
                for vname in keys(vars) {
                    let Some((_, var)) = self.node(&vid.child(&vname)) else {
                        continue;
                    };
                    variables.push(ServerVariable {
                        name: vname,
                        default: str_at(var, "default"),
                        allowed: string_list(var.get("enum")),
                        description: str_at(var, "description"),
                    });
                }
            }
            for placeholder in placeholders(&url) {
                if !variables.iter().any(|v| v.name == placeholder) {
                    self.report.warn(
                        self.r
                            .error(&sid, format!("server `{name}` uses `{{{placeholder}}}` in its URL but declares no such variable"))
                            .help(format!("declare `variables.{placeholder}` with a `default`, or pass its value when choosing the server")),
                    );
                }
            }
            let security = self.server_security(&sid, s);
            out.push(Server {
                name,
                url,
                protocol: str_at(s, "protocol").unwrap_or_default(),
                protocol_version: str_at(s, "protocolVersion"),
                description: str_at(s, "description"),
                variables,
                security,
            });
        }
        out
    }

    fn server_security(&mut self, sid: &NodeId, s: &Value) -> Vec<String> {
        let mut names = Vec::new();
        let Some(list) = s.get("security").and_then(Value::as_array) else {
            return names;
        };
        for (i, item) in list.iter().enumerate() {
            let at = sid.child("security").index(i);
            if self.major == 2 {
                // A name without a scheme was reported (and waived) by conformance.
                names.extend(keys(item));
            } else {
                let target = self.r.follow(&at).ok();
                match target.and_then(|t| {
                    t.last_segment()
                        .filter(|_| t.pointer.contains("securitySchemes"))
                }) {
                    Some(name) => names.push(name),
                    None => {
                        names.push(str_at(item, "type").unwrap_or_else(|| format!("inline{i}")))
                    }
                }
            }
        }
        names
    }

    fn parameters(&mut self, cid: &NodeId) -> Vec<Parameter> {
        let Some((pid, v)) = self.node(&cid.child("parameters")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in keys(v) {
            let Some((node, p)) = self.node(&pid.child(&name)) else {
                continue;
            };
            // 2.x keeps enum/default in `schema`; 3.x on the parameter itself.
            let schema = match p.get("schema") {
                Some(_) => self
                    .node(&node.child("schema"))
                    .map(|(_, s)| s)
                    .unwrap_or(&NULL),
                None => p,
            };
            out.push(Parameter {
                name,
                description: str_at(p, "description").or_else(|| str_at(schema, "description")),
                allowed: string_list(schema.get("enum")),
                default: str_at(schema, "default"),
                kind: match schema.get("type").and_then(Value::as_str) {
                    Some("integer") => ParameterKind::Integer,
                    Some("number") => ParameterKind::Number,
                    Some("boolean") => ParameterKind::Boolean,
                    _ => ParameterKind::String,
                },
                pattern: str_at(schema, "pattern"),
                node,
            });
        }
        out
    }

    fn channel_base(
        &mut self,
        id: String,
        node: NodeId,
        v: &Value,
        address: Option<String>,
    ) -> Channel {
        let parameters = self.parameters(&node);
        let topic_binding = self.topic_binding(&node, v);
        let binding_topic = v
            .pointer("/bindings/kafka/topic")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (topic, topic_note) = match (&binding_topic, &address) {
            (Some(t), _) => (
                kafka_topic(t),
                format!("from `bindings.kafka.topic` (`{t}`)"),
            ),
            (None, Some(a)) => (kafka_topic(a), format!("from the address `{a}`")),
            (None, None) => (
                kafka_topic(&id),
                format!("from the channel id `{id}`: the address is null"),
            ),
        };
        let topic_note = match &topic {
            Ok(t) if Some(t) != binding_topic.as_ref() && Some(t) != address.as_ref() => {
                format!("{topic_note}; characters Kafka does not accept were mapped (`/` and `:` become `.`, leading and trailing separators dropped)")
            }
            _ => topic_note,
        };
        Channel {
            names_no_topic: address.is_none() && binding_topic.is_none(),
            id,
            node,
            address,
            topic,
            topic_note,
            title: str_at(v, "title"),
            summary: str_at(v, "summary"),
            description: str_at(v, "description"),
            parameters,
            messages: Vec::new(),
            topic_binding,
        }
    }

    /// The topic settings of the channel's Kafka binding; wrong values are errors (a
    /// topic created with them would not be what the document says).
    fn topic_binding(&mut self, channel: &NodeId, v: &Value) -> TopicBinding {
        let Some(kafka) = v.pointer("/bindings/kafka") else {
            return TopicBinding::default();
        };
        let at = channel.child("bindings").child("kafka");
        if let Some(version) = kafka.get("bindingVersion").and_then(Value::as_str) {
            if !KAFKA_BINDING_VERSIONS.contains(&version) {
                self.report.warn(
                    self.r
                        .error(&at.child("bindingVersion"), format!("Kafka binding version `{version}` is not one this crate knows; it is read as 0.5.0"))
                        .help(format!("use one of {}", KAFKA_BINDING_VERSIONS.join(", "))),
                );
            }
        }
        TopicBinding {
            partitions: self.positive_count(kafka, &at, "partitions"),
            replicas: self.positive_count(kafka, &at, "replicas"),
            config: self.topic_configuration(kafka, &at),
        }
    }

    fn positive_count(&mut self, kafka: &Value, at: &NodeId, key: &str) -> Option<i32> {
        let value = kafka.get(key)?;
        match value.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.report.error(
                    self.r
                        .error(&at.child(key), format!("`{key}` of a Kafka channel binding must be a positive integer, not `{value}`"))
                        .help(format!("write `{key}: 3`, or leave it out to use the broker's default")),
                );
                None
            }
        }
    }

    /// `topicConfiguration` as topic configs: scalars as written, lists (the cleanup
    /// policy) joined with `,` as Kafka expects them.
    fn topic_configuration(&mut self, kafka: &Value, at: &NodeId) -> Vec<(String, String)> {
        let Some(config) = kafka.get("topicConfiguration") else {
            return Vec::new();
        };
        let at = at.child("topicConfiguration");
        let Some(entries) = config.as_object() else {
            self.report.error(self.r.error(&at, "`topicConfiguration` must be a mapping of Kafka topic configs").help("e.g. `topicConfiguration: { cleanup.policy: [compact], retention.ms: 604800000 }`"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in entries {
            let text = match value {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map(|items| items.join(",")),
                Value::Null | Value::Object(_) => None,
            };
            match text {
                Some(text) => out.push((name.clone(), text)),
                None => self.report.error(
                    self.r
                        .error(&at.child(name), format!("topic config `{name}` must be a string, number, boolean or list of strings"))
                        .help("write the value as Kafka's `kafka-configs` tool takes it, e.g. `cleanup.policy: [compact, delete]`"),
                ),
            }
        }
        out
    }

    fn v2_channels(&mut self) -> (Vec<Channel>, Vec<Operation>) {
        let mut channels = Vec::new();
        let mut operations = Vec::new();
        let Some((list, v)) = self.node(&self.root.child("channels")) else {
            return (channels, operations);
        };
        for key in keys(v) {
            let Some((cid, c)) = self.node(&list.child(&key)) else {
                continue;
            };
            let mut channel = self.channel_base(key.clone(), cid.clone(), c, Some(key.clone()));
            let index = channels.len();
            // 2.x: `publish` = others publish, the application receives.
            for (verb, action) in [("publish", Action::Receive), ("subscribe", Action::Send)] {
                let Some((oid, op)) = c.get(verb).and_then(|_| self.node(&cid.child(verb))) else {
                    continue;
                };
                let op = self.apply_traits(&oid, op, false);
                let mut messages = Vec::new();
                if let Some((mid, m)) = self.node(&oid.child("message")) {
                    match m.get("oneOf").and_then(Value::as_array) {
                        Some(list) => {
                            for i in 0..list.len() {
                                let fallback = format!(
                                    "{}{}{}",
                                    key.to_upper_camel_case(),
                                    verb.to_upper_camel_case(),
                                    i + 1
                                );
                                if let Some(m) =
                                    self.message(&mid.child("oneOf").index(i), &fallback)
                                {
                                    messages.push(m);
                                }
                            }
                        }
                        None => {
                            let fallback = format!(
                                "{}{}Message",
                                key.to_upper_camel_case(),
                                verb.to_upper_camel_case()
                            );
                            if let Some(m) = self.message(&mid, &fallback) {
                                messages.push(m);
                            }
                        }
                    }
                }
                for m in &messages {
                    if !channel.messages.contains(m) {
                        channel.messages.push(*m);
                    }
                }
                operations.push(Operation {
                    id: str_at(&op, "operationId")
                        .unwrap_or_else(|| format!("{verb}{}", key.to_upper_camel_case())),
                    node: oid,
                    action,
                    channel: index,
                    messages,
                    title: None,
                    summary: str_at(&op, "summary"),
                    description: str_at(&op, "description"),
                    group_id: binding_const(op.pointer("/bindings/kafka/groupId")),
                    client_id: binding_const(op.pointer("/bindings/kafka/clientId")),
                    // 2.x has no replies: request/reply there is a convention of two
                    // operations, each generated as such.
                    reply: None,
                });
            }
            channels.push(channel);
        }
        (channels, operations)
    }

    fn v3_channels_and_operations(&mut self) -> (Vec<Channel>, Vec<Operation>) {
        let channels = self.v3_channels();
        let mut operations = Vec::new();
        if let Some((list, v)) = self.node(&self.root.child("operations")) {
            for key in keys(v) {
                if let Some(operation) = self.v3_operation(&list, key, &channels) {
                    operations.push(operation);
                }
            }
        }
        (channels.channels, operations)
    }

    /// The channels of a 3.x document, with the nodes operations reach them and their
    /// messages by.
    fn v3_channels(&mut self) -> V3Channels {
        let mut found = V3Channels::default();
        let Some((list, v)) = self.node(&self.root.child("channels")) else {
            return found;
        };
        for key in keys(v) {
            let Some((cid, c)) = self.node(&list.child(&key)) else {
                continue;
            };
            let address = match c.get("address") {
                Some(Value::String(a)) => Some(a.clone()),
                _ => None,
            };
            let mut channel = self.channel_base(key.clone(), cid.clone(), c, address);
            if let Some(msgs) = c.get("messages").and_then(Value::as_object) {
                for mkey in msgs.keys() {
                    let entry = cid.child("messages").child(mkey);
                    if let Some(m) = self.message(&entry, &mkey.to_upper_camel_case()) {
                        found.message_nodes.insert(entry.clone(), m);
                        if let Ok(target) = self.r.follow(&entry) {
                            found.message_nodes.insert(target, m);
                        }
                        if !channel.messages.contains(&m) {
                            channel.messages.push(m);
                        }
                    }
                }
            }
            found
                .channel_nodes
                .insert(cid.clone(), found.channels.len());
            found
                .channel_nodes
                .insert(list.child(&key), found.channels.len());
            found.channels.push(channel);
        }
        found
    }

    /// Operation `key` of a 3.x document; `None` (with the error reported) when its
    /// action or channel is wrong.
    fn v3_operation(
        &mut self,
        list: &NodeId,
        key: String,
        channels: &V3Channels,
    ) -> Option<Operation> {
        let (oid, op) = self.node(&list.child(&key))?;
        let op = self.apply_traits(&oid, op, true);
        let action = self.operation_action(&oid, &key, &op)?;
        let channel = match self.r.follow(&oid.child("channel")) {
            Ok(cnode) => channels.channel_nodes.get(&cnode).copied(),
            Err(e) => {
                self.report.error(e);
                return None;
            }
        };
        let Some(channel) = channel else {
            self.report.error(
                self.r
                    .error(
                        &oid.child("channel"),
                        format!("operation `{key}` does not reference a channel of `channels`"),
                    )
                    .help("write `channel: { $ref: '#/channels/<channelId>' }`"),
            );
            return None;
        };
        let messages =
            self.operation_messages(&oid, &key, &op, &channels.channels[channel], channels);
        let reply = self.reply(&oid, &key, &channels.channel_nodes);
        Some(Operation {
            id: key,
            node: oid,
            action,
            channel,
            messages,
            title: str_at(&op, "title"),
            summary: str_at(&op, "summary"),
            description: str_at(&op, "description"),
            group_id: binding_const(op.pointer("/bindings/kafka/groupId")),
            client_id: binding_const(op.pointer("/bindings/kafka/clientId")),
            reply,
        })
    }

    /// `send` or `receive`; anything else is reported.
    fn operation_action(&mut self, oid: &NodeId, key: &str, op: &Value) -> Option<Action> {
        let found = match op.get("action").and_then(Value::as_str) {
            Some("send") => return Some(Action::Send),
            Some("receive") => return Some(Action::Receive),
            Some(action) => format!("action `{action}`"),
            None => "no `action`".to_owned(),
        };
        self.report.error(
            self.r
                .error(
                    &oid.child("action"),
                    format!("operation `{key}` has {found}"),
                )
                .help("set `action` to `send` or `receive`"),
        );
        None
    }

    /// The messages an operation lists (each must be one of its channel's), or all of
    /// its channel's when it lists none.
    fn operation_messages(
        &mut self,
        oid: &NodeId,
        key: &str,
        op: &Value,
        channel: &Channel,
        channels: &V3Channels,
    ) -> Vec<usize> {
        let Some(list) = op.get("messages").and_then(Value::as_array) else {
            return channel.messages.clone();
        };
        let mut messages = Vec::new();
        for i in 0..list.len() {
            let at = oid.child("messages").index(i);
            let target = self.r.follow(&at).ok();
            let found = target
                .as_ref()
                .and_then(|t| channels.message_nodes.get(t))
                .or_else(|| channels.message_nodes.get(&at));
            match found {
                Some(&m) if channel.messages.contains(&m) => messages.push(m),
                _ => self.report.error(
                    self.r
                        .error(&at, format!("operation `{key}` lists a message that is not one of channel `{}`'s messages", channel.id))
                        .help(format!("reference a message of the channel, e.g. `$ref: '#/channels/{}/messages/<name>'`", channel.id.replace('/', "~1"))),
                ),
            }
        }
        messages
    }

    /// The `reply` of operation `key`: its channel and where the requester names its
    /// reply topic.
    fn reply(
        &mut self,
        oid: &NodeId,
        key: &str,
        channel_nodes: &HashMap<NodeId, usize>,
    ) -> Option<Reply> {
        let (rid, reply) = self.node(&oid.child("reply"))?;
        if reply.is_null() {
            return None;
        }
        let channel = match self.r.follow(&rid.child("channel")) {
            Ok(node) => channel_nodes.get(&node).copied(),
            Err(_) => None,
        };
        let Some(channel) = channel else {
            self.report.error(
                self.r
                    .error(&rid, format!("the reply of operation `{key}` names no channel of `channels`"))
                    .help("set `reply.channel: { $ref: '#/channels/<replyChannelId>' }`: the reply channel gives the reply's messages and topic"),
            );
            return None;
        };
        let reply_to_header = match reply.get("address") {
            None => None,
            Some(_) => {
                let (aid, address) = self.node(&rid.child("address"))?;
                let location = str_at(address, "location").unwrap_or_default();
                let header = header_of_location(&location);
                if header.is_none() {
                    self.report.error(
                        self.r
                            .error(&aid.child("location"), format!("reply address `{location}` is not a message header"))
                            .help("write `location: $message.header#/<headerName>`: the requester names its reply topic in that header"),
                    );
                }
                header
            }
        };
        Some(Reply {
            channel,
            reply_to_header,
        })
    }

    /// Merges `traits` into an operation or message. In 2.x traits are a JSON Merge
    /// Patch over the object (the trait wins); in 3.x the object's own fields win.
    fn apply_traits(
        &mut self,
        id: &NodeId,
        value: &'r Value,
        own_fields_win: bool,
    ) -> Cow<'r, Value> {
        let Some(list) = value.get("traits").and_then(Value::as_array) else {
            return Cow::Borrowed(value);
        };
        let mut merged = value.clone();
        if let Some(m) = merged.as_object_mut() {
            m.remove("traits");
        }
        for i in 0..list.len() {
            let Some((_, t)) = self.node(&id.child("traits").index(i)) else {
                continue;
            };
            // 2.x allows `[traitObject, bindings]` pairs in operation traits only as an array item.
            if own_fields_win {
                let mut base = t.clone();
                merge_patch(&mut base, &merged);
                merged = base;
            } else {
                merge_patch(&mut merged, t);
            }
        }
        Cow::Owned(merged)
    }

    /// Messages of `components.messages` that no channel uses still get their types: a
    /// document often defines messages for others to reference.
    fn component_messages(&mut self) {
        let list = self.root.child("components").child("messages");
        let Some(Value::Object(map)) = self.r.get(&list) else {
            return;
        };
        for key in map.keys() {
            let entry = list.child(key);
            // A broken entry that a channel uses was reported there already; say a cycle
            // or a dangling reference once, not once per way into it.
            if self.report.has_errors() && self.r.follow(&entry).is_err() {
                continue;
            }
            self.message(&entry, &key.to_upper_camel_case());
        }
    }

    /// Reads a message (following refs), once per distinct message node.
    fn message(&mut self, at: &NodeId, fallback_name: &str) -> Option<usize> {
        let (mid, raw) = self.node(at)?;
        if let Some(&i) = self.message_index.get(&mid) {
            return Some(i);
        }
        let merged = self.apply_traits(&mid, raw, self.major >= 3);
        let written = WrittenMessage {
            id: &mid,
            raw,
            merged: &merged,
        };
        let component_name = mid
            .pointer
            .contains("/messages/")
            .then(|| mid.last_segment())
            .flatten();
        let name = str_at(&merged, "messageId")
            .or_else(|| str_at(&merged, "name"))
            .or(component_name)
            .unwrap_or_else(|| fallback_name.to_owned());
        let (payload, payload_format) = self.message_payload(&written);
        let opaque = payload_format != PayloadFormat::JsonSchema;
        let headers = self.message_headers(&written);
        // An Avro (or other non-JSON) message keeps its key in the same format: opaque.
        let key = if opaque {
            None
        } else {
            self.kafka_key(&written)
        };
        let correlation_id = self
            .merged_field(&written, "correlationId")
            .and_then(|(cid, _)| self.node(&cid))
            .and_then(|(_, c)| str_at(c, "location"));
        let content_type = str_at(&merged, "contentType")
            .or_else(|| self.default_content_type.clone())
            .unwrap_or_else(|| {
                if opaque {
                    "application/octet-stream".to_owned()
                } else {
                    "application/json".to_owned()
                }
            });
        self.messages.push(Message {
            name,
            node: mid.clone(),
            title: str_at(&merged, "title"),
            summary: str_at(&merged, "summary"),
            description: str_at(&merged, "description"),
            content_type,
            payload,
            payload_format,
            headers,
            key,
            correlation_id,
            examples: message_examples(&merged),
        });
        self.message_index.insert(mid, self.messages.len() - 1);
        Some(self.messages.len() - 1)
    }

    /// Where a merged field of a message is written (not followed: a `$ref` there names
    /// the type): in the message when it has the field, else in the last trait that does.
    fn merged_field(&self, message: &WrittenMessage<'_>, field: &str) -> Option<(NodeId, Value)> {
        message.merged.get(field)?;
        if message.raw.get(field).is_some() {
            let id = message.id.child(field);
            let v = self.r.get(&id).cloned()?;
            return Some((id, v));
        }
        let traits = message
            .raw
            .get("traits")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        for i in (0..traits).rev() {
            let tid = self.r.follow(&message.id.child("traits").index(i)).ok()?;
            if let Some(v) = self.r.get(&tid).and_then(|t| t.get(field)).cloned() {
                return Some((tid.child(field), v));
            }
        }
        None
    }

    /// Where the payload schema stands (a 3.x multi-format schema's `schema`) and its
    /// format; no schema for a format other than JSON Schema.
    fn message_payload(&self, message: &WrittenMessage<'_>) -> (Option<NodeId>, PayloadFormat) {
        let Some(p) = message.merged.get("payload") else {
            return (None, PayloadFormat::JsonSchema);
        };
        let fmt = str_at(message.merged, "schemaFormat").or_else(|| str_at(p, "schemaFormat"));
        let is_multi_format =
            self.major >= 3 && p.get("schemaFormat").is_some() && p.get("schema").is_some();
        let format = match fmt {
            Some(f) if !is_json_schema_format(&f) => PayloadFormat::Opaque(f),
            _ => PayloadFormat::JsonSchema,
        };
        if format != PayloadFormat::JsonSchema {
            return (None, format);
        }
        let base = self.merged_field(message, "payload").map(|(id, _)| id);
        let node = match (is_multi_format, base) {
            (true, Some(id)) => self
                .r
                .follow(&id)
                .ok()
                .map(|t| t.child("schema"))
                .filter(|id| self.r.get(id).is_some()),
            (false, base) => base,
            (_, None) => None,
        };
        (node, format)
    }

    /// Where the headers schema stands (a 3.x multi-format schema's `schema`).
    fn message_headers(&self, message: &WrittenMessage<'_>) -> Option<NodeId> {
        let (id, _) = self.merged_field(message, "headers")?;
        let followed = self.r.follow(&id).ok()?;
        if self.major >= 3
            && self
                .r
                .get(&followed)
                .is_some_and(|v| v.get("schemaFormat").is_some())
        {
            let sid = followed.child("schema");
            return self.r.get(&sid).is_some().then_some(sid);
        }
        Some(id)
    }

    /// Where the Kafka message binding's `key` schema stands.
    fn kafka_key(&self, message: &WrittenMessage<'_>) -> Option<NodeId> {
        let (bid, _) = self.merged_field(message, "bindings")?;
        let bid = self.r.follow(&bid).ok()?;
        let kid = self.r.follow(&bid.child("kafka")).ok()?.child("key");
        self.r.get(&kid).is_some().then_some(kid)
    }
}

/// A message's `examples` that carry a payload (at most three: they document the type).
fn message_examples(message: &Value) -> Vec<(Option<String>, Value)> {
    let Some(Value::Array(examples)) = message.get("examples") else {
        return Vec::new();
    };
    examples
        .iter()
        .filter_map(|e| {
            let payload = e.get("payload")?.clone();
            Some((str_at(e, "name").or_else(|| str_at(e, "summary")), payload))
        })
        .take(3)
        .collect()
}

/// Versions of the Kafka bindings whose channel fields this crate reads.
const KAFKA_BINDING_VERSIONS: &[&str] = &["0.1.0", "0.3.0", "0.4.0", "0.5.0"];

/// A Kafka binding's `groupId`/`clientId` schema names a value when it is a `const` or a
/// single-value `enum`.
fn binding_const(schema: Option<&Value>) -> Option<String> {
    let s = schema?;
    if let Some(c) = s.get("const").and_then(Value::as_str) {
        return Some(c.to_owned());
    }
    match s.get("enum").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::String(v)]) => Some(v.clone()),
        _ => s.as_str().map(str::to_owned),
    }
}

fn is_json_schema_format(f: &str) -> bool {
    let f = f.to_ascii_lowercase();
    f.starts_with("application/vnd.aai.asyncapi")
        || f.starts_with("application/schema+json")
        || f.starts_with("application/schema+yaml")
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| str_at(&serde_json::json!({ "v": x }), "v"))
                .collect()
        })
        .unwrap_or_default()
}

/// The header a runtime expression `$message.header#/<name>` points at.
pub fn header_of_location(location: &str) -> Option<String> {
    let pointer = location.strip_prefix("$message.header#/")?;
    if pointer.is_empty() || pointer.contains('/') {
        return None;
    }
    Some(pointer.replace("~1", "/").replace("~0", "~"))
}

/// The channels of a 3.x document, and how operations reach them and their messages:
/// by the node of the channel (or of its entry under `channels`), and by the node of
/// each message entry (or what it refers to).
#[derive(Default)]
struct V3Channels {
    channels: Vec<Channel>,
    channel_nodes: HashMap<NodeId, usize>,
    message_nodes: HashMap<NodeId, usize>,
}

/// A message as written (its node and value) and merged with its traits.
struct WrittenMessage<'a> {
    id: &'a NodeId,
    raw: &'a Value,
    merged: &'a Value,
}

/// RFC 7386 JSON Merge Patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
