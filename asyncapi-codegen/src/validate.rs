//! Stage 4: what the IR must satisfy before code is generated from it.
//!
//! Normalization reads whatever the document says; this stage decides whether that
//! can become a Kafka service: a supported version, topics Kafka accepts, content
//! types the runtime can encode, and document names that stay distinct once they
//! are Rust names. Every problem goes to the one [`Report`].

use std::collections::HashMap;

use crate::diagnostics::Report;
use crate::generate::channel_type_name;
use crate::ir::{Channel, Document, Operation, Reply, ReplyAddressing};
use crate::resolve::{NodeId, Resolver, NULL};
use crate::types::field_ident_text;
use asyncapi_syntax::ContentType;

/// The AsyncAPI versions this crate reads, each with test documents.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "2.0.0", "2.1.0", "2.2.0", "2.3.0", "2.4.0", "2.5.0", "2.6.0", "3.0.0", "3.1.0",
];

/// A document's `asyncapi` field, once accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    pub major: u32,
}

/// The document's `asyncapi` version, when it is one this crate reads.
pub fn version(r: &Resolver, root: &NodeId, report: &mut Report) -> Option<Version> {
    let doc = r.get(root).unwrap_or(&NULL);
    let Some(field) = doc.get("asyncapi") else {
        let msg = if doc.is_object() {
            "not an AsyncAPI document: it has no `asyncapi` version field"
        } else {
            "not an AsyncAPI document: the top level must be a mapping with an `asyncapi` field"
        };
        report.error(r.error(root, msg).help(
            "start the document with `asyncapi: 3.0.0` (or a 2.x version) followed by `info`, `channels`, ...",
        ));
        return None;
    };
    let text = match field {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // Exactly the published versions, as the official parser: a patch release the
    // specification has not published has no schema to be checked against.
    let supported = field.is_string() && SUPPORTED_VERSIONS.contains(&text.as_str());
    if !supported {
        report.error(
            r.error(
                &root.child("asyncapi"),
                format!("unsupported AsyncAPI version `{text}`"),
            )
            .help("supported versions are 2.0.0 to 2.6.0, 3.0.0 and 3.1.0, written as a string; convert older documents with `asyncapi convert` of the AsyncAPI CLI"),
        );
        return None;
    }
    let major = if text.starts_with('2') { 2 } else { 3 };
    Some(Version { text, major })
}

/// Checks the IR of a document whose version is supported.
pub fn document(r: &Resolver, root: &NodeId, doc: &Document, report: &mut Report) {
    let is_kafka = doc.servers.iter().any(|s| s.protocol.starts_with("kafka"))
        || r.get(root).is_some_and(has_kafka_bindings);
    for (index, c) in doc.channels.iter().enumerate() {
        // A reply channel whose topic each requester names needs none of its own.
        if !doc.topic_named_by_requesters(index) {
            topic(r, c, is_kafka, report);
        }
        parameter_names(r, c, report);
    }
    channel_type_names(r, doc, report);
    channel_item_names(r, doc, report);
    request_method_names(r, doc, report);
    replies(r, doc, report);
    server_names(r, root, doc, report);
    content_types(r, doc, report);
}

/// Whether any `bindings` object of the document has a `kafka` entry.
fn has_kafka_bindings(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == "bindings" && v.get("kafka").is_some()) || has_kafka_bindings(v)),
        serde_json::Value::Array(items) => items.iter().any(has_kafka_bindings),
        _ => false,
    }
}

/// A channel must map to a Kafka topic when the document is for Kafka; other documents
/// still get their types, without a client for that channel.
fn topic(r: &Resolver, c: &Channel, is_kafka: bool, report: &mut Report) {
    let Err(why) = &c.topic else { return };
    let d = r.error(
        &c.node,
        format!("channel `{}` cannot become a Kafka topic: {why}", c.id),
    );
    if is_kafka {
        report.error(d.help("set `bindings.kafka.topic` on the channel to a valid topic name ([a-zA-Z0-9._-], at most 249 characters)"));
    } else {
        report.warn(d.help("the document is not for Kafka: this channel gets no client"));
    }
}

/// Channel marker types are named after channel ids, unrenamed (users name them): two
/// ids that become the same name would define `channels::X` twice.
fn channel_type_names(r: &Resolver, doc: &Document, report: &mut Report) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for c in &doc.channels {
        let name = channel_type_name(c);
        if let Some(first) = seen.insert(name.clone(), &c.id) {
            report.error(
                r.error(&c.node, format!("channels `{first}` and `{}` would both become the Rust type `channels::{name}`", c.id))
                    .help("rename one of the two channels (its key in `channels`) so that their names differ in more than punctuation or case"),
            );
        }
    }
}

/// A channel's parameters struct and parameter enums are named after the channel; one
/// that another item of the `channels` module already is gets a numeric suffix
/// (`generate::channel_item_names`), said here.
fn channel_item_names(r: &Resolver, doc: &Document, report: &mut Report) {
    let names = crate::generate::channel_item_names(&doc.channels);
    for (c, items) in doc.channels.iter().zip(&names) {
        if c.parameters.is_empty() {
            continue;
        }
        let (wanted, given) = &items.parameters;
        if wanted != given {
            report.warn(
                r.error(&c.node, format!("the parameters struct of channel `{}` would be `channels::{wanted}`, which another item of the channel module is: it is `channels::{given}`", c.id))
                    .help("rename the channel or the parameter whose name it collides with"),
            );
        }
        for (parameter, (wanted, given)) in &items.parameter_enums {
            if wanted == given {
                continue;
            }
            let at = c
                .parameters
                .iter()
                .find(|p| &p.name == parameter)
                .map_or(&c.node, |p| &p.node);
            report.warn(
                r.error(at, format!("the values of parameter `{parameter}` of channel `{}` would be the enum `channels::{wanted}`, which another item of the channel module is: it is `channels::{given}`", c.id))
                    .help("rename the parameter or the channel whose name it collides with"),
            );
        }
    }
}

/// Request channels get `request_<channel>` and `request_<channel>_with`; a `_with`
/// method another channel's `request_` method already is gets a numeric suffix
/// (`generate::request_method_names`), said here.
fn request_method_names(r: &Resolver, doc: &Document, report: &mut Report) {
    let requests: Vec<usize> = doc
        .request_operations()
        .iter()
        .map(|(op, _)| op.channel)
        .collect();
    let names = crate::generate::request_method_names(&doc.channels, &requests);
    for (&i, (name, with)) in requests.iter().zip(&names) {
        if *with != format!("{name}_with") {
            let c = &doc.channels[i];
            report.warn(
                r.error(&c.node, format!("`{name}_with` of channel `{}` is another channel's `request_` method: it is `{with}`", c.id))
                    .help("rename one of the two channels so that one is not the other's name followed by `With`"),
            );
        }
    }
}

/// Replies Kafka can carry: on a channel other than the request's, and one reply
/// channel per request channel.
fn replies(r: &Resolver, doc: &Document, report: &mut Report) {
    let mut reply_of: HashMap<usize, usize> = HashMap::new();
    for op in &doc.operations {
        let Some(reply) = &op.reply else { continue };
        let channel = &doc.channels[op.channel];
        if reply.channel == op.channel {
            report.warn(
                r.error(&op.node.child("reply"), format!("operation `{}` replies on its own channel `{}`: no request/reply code is generated for it", op.id, channel.id))
                    .help("on Kafka a consumer of the topic would read its own replies as requests; give the replies a channel of their own"),
            );
            continue;
        }
        // Both sides' operations may carry the same `reply`: say it once per channel.
        if !reply_of.contains_key(&op.channel) {
            reply_addressing(r, doc, op, reply, report);
        }
        match reply_of.insert(op.channel, reply.channel) {
            Some(first) if first != reply.channel => report.error(
                r.error(&op.node.child("reply"), format!("operations on channel `{}` reply on both `{}` and `{}`", channel.id, doc.channels[first].id, doc.channels[reply.channel].id))
                    .help("requests on one channel get their replies on one channel: split the requests over two channels"),
            ),
            _ => {}
        }
    }
}

/// Replies a requester can address: the reply topic's parameters come from the
/// request's, or the requester names them in the reply's address header.
fn reply_addressing(
    r: &Resolver,
    doc: &Document,
    op: &Operation,
    reply: &Reply,
    report: &mut Report,
) {
    let (channel, reply_channel) = (&doc.channels[op.channel], &doc.channels[reply.channel]);
    match reply.addressing(channel, &doc.channels) {
        ReplyAddressing::FromRequest => {
            shared_parameter_values(r, op, channel, reply_channel, report)
        }
        ReplyAddressing::Unaddressable => {
            let missing = reply.unmatched_parameters(channel, &doc.channels);
            let (noun, verb) = match missing.len() {
                1 => ("parameter", "is not a parameter"),
                _ => ("parameters", "are not parameters"),
            };
            report.warn(
                r.error(&op.node.child("reply"), format!("the replies of operation `{}` cannot be addressed: {noun} `{}` of reply channel `{}` {verb} of request channel `{}`, and the reply has no `address`: no request method is generated, and the answering side dead-letters each request as one it cannot answer", op.id, missing.join("`, `"), reply_channel.id, channel.id))
                    .help("give the request channel's address the same parameter, or let the requester name its reply topic: `address: { location: '$message.header#/replyTo' }` on the reply"),
            );
        }
        _ => {}
    }
}

/// A reply topic whose parameters are the request's: each must accept every value the
/// request's parameter of the same name does. A value outside the reply's `enum` names
/// no reply topic: this runtime's requester refuses such a request before sending it,
/// and a replier dead-letters one from another program.
fn shared_parameter_values(
    r: &Resolver,
    op: &Operation,
    request: &Channel,
    reply_channel: &Channel,
    report: &mut Report,
) {
    fn declared<'c>(c: &'c Channel, name: &str) -> &'c [String] {
        c.parameters
            .iter()
            .find(|p| p.name == name)
            .map_or(&[], |p| p.allowed.as_slice())
    }
    for name in reply_channel.topic_placeholders() {
        let reply_allows = declared(reply_channel, name);
        if reply_allows.is_empty() {
            continue;
        }
        let request_allows = declared(request, name);
        let refused: Vec<&str> = request_allows
            .iter()
            .filter(|v| !reply_allows.contains(v))
            .map(String::as_str)
            .collect();
        let problem = match (request_allows.is_empty(), refused.is_empty()) {
            (true, _) => format!("takes any value on request channel `{}`", request.id),
            (false, false) => format!(
                "takes `{}` on request channel `{}`",
                refused.join("`, `"),
                request.id
            ),
            (false, true) => continue,
        };
        report.warn(
            r.error(&op.node.child("reply"), format!("parameter `{name}` names the reply topic from the request's value, but {problem}, which reply channel `{}` does not allow (one of `{}`): such requests cannot be answered", reply_channel.id, reply_allows.join("`, `")))
                .help(format!("give parameter `{name}` the same `enum` on both channels")),
        );
    }
}

/// Parameters become fields of the channel's parameters struct; their patterns are
/// checked before sending, so they must compile.
fn parameter_names(r: &Resolver, c: &Channel, report: &mut Report) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for p in &c.parameters {
        if let Some(pattern) = &p.pattern {
            if let Err(e) = regex::Regex::new(pattern) {
                report.error(
                    r.error(&p.node, format!("the pattern of parameter `{}` is not a regular expression this crate can check: {e}", p.name))
                        .help("write the pattern in the common subset of ECMA-262 and Rust `regex` syntax (no look-around or back-references)"),
                );
            }
        }
        let field = field_ident_text(&p.name);
        if let Some(first) = seen.insert(field.clone(), &p.name) {
            report.warn(
                r.error(&p.node, format!("parameters `{first}` and `{}` of channel `{}` both read `{field}` in Rust: the second field gets a numeric suffix", p.name, c.id))
                    .help("rename one of the two parameters (in the address and under `parameters`) so that their names differ in more than punctuation or case"),
            );
        }
    }
}

/// Servers become constants of the `servers` module; a name that another server's
/// already became gets a numeric suffix (`server_const_names`), said here.
fn server_names(r: &Resolver, root: &NodeId, doc: &Document, report: &mut Report) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let given = crate::generate::server_const_names(&doc.servers);
    for (s, constant) in doc.servers.iter().zip(given) {
        let name = crate::generate::server_const_name(&s.name);
        if let Some(first) = seen.insert(name.clone(), &s.name) {
            report.warn(
                r.error(&root.child("servers").child(&s.name), format!("servers `{first}` and `{}` both read `servers::{name}` in Rust: this one is `servers::{constant}`", s.name))
                    .help("rename one of the two servers so that their names differ in more than punctuation or case"),
            );
        }
    }
}

/// A message some operation sends or receives must have a content type the runtime
/// can encode and decode.
fn content_types(r: &Resolver, doc: &Document, report: &mut Report) {
    for op in &doc.operations {
        for &m in &op.messages {
            let msg = &doc.messages[m];
            if ContentType::parse(&msg.content_type).is_none() {
                report.error(
                    r.error(&msg.node, format!("message `{}` has content type `{}`, which the runtime cannot encode", msg.name, msg.content_type))
                        .help("use `application/json` (or a `+json` type), `text/plain` or `application/octet-stream`"),
                );
            }
        }
    }
}
