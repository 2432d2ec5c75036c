//! The rules of the specification its JSON Schema cannot say (names that must be
//! defined, unique or used), as the official parser's core rulesets check them. They
//! read the document with its references followed, except where a rule is about the
//! references themselves.

use std::collections::HashMap;

use asyncapi_syntax::address::placeholders;
use serde_json::{Map, Value};

use super::explain::Problem;
use super::Items;
use crate::load::{pointer_under, push_segment};
use crate::suggest::{closest, one_of_list};

/// The rule a security requirement naming an undefined scheme breaks.
pub(super) const SECURITY_RULE: &str = "security-scheme-defined";

/// The problems of a 2.x or 3.x document: `resolved` is the document with its
/// references followed, `written` the root file as written.
pub(super) fn check(resolved: &Value, written: &Value, major: u32, out: &mut Vec<Problem>) {
    if major == 2 {
        v2(resolved, out);
    } else {
        v3(resolved, written, out);
    }
}

fn v2(doc: &Value, out: &mut Vec<Problem>) {
    let schemes = doc.pointer("/components/securitySchemes");
    let servers = names(doc.get("servers"));
    for (name, server) in entries(doc.get("servers")) {
        let at = pointer(&["servers", name]);
        security_requirements(server.get("security"), schemes, &at, "server", out);
        url_variables(server, "url", "variables", &at, "server URL", out);
    }
    for (name, server) in entries(doc.pointer("/components/servers")) {
        url_variables(
            server,
            "url",
            "variables",
            &pointer(&["components", "servers", name]),
            "server URL",
            out,
        );
    }
    let mut operation_ids = Seen::default();
    let mut message_ids = Seen::default();
    for (name, channel) in entries(doc.get("channels")) {
        let at = pointer(&["channels", name]);
        no_query_nor_fragment(name, &at, out);
        address_parameters(name, channel, &at, true, out);
        channel_servers(channel, &servers, &at, out);
        for action in ["publish", "subscribe"] {
            let Some(operation) = channel.get(action) else {
                continue;
            };
            let op_at = format!("{at}/{action}");
            security_requirements(operation.get("security"), schemes, &op_at, "operation", out);
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                operation_ids.add(id, format!("{op_at}/operationId"), "operationId", out);
            }
            unique_tags(operation.get("tags"), &format!("{op_at}/tags"), out);
            for (message, message_at) in messages_of(operation, &op_at) {
                if let Some(id) = message.get("messageId").and_then(Value::as_str) {
                    message_ids.add(id, format!("{message_at}/messageId"), "messageId", out);
                }
            }
        }
    }
    unique_tags(doc.get("tags"), "/tags", out);
}

fn v3(doc: &Value, written: &Value, out: &mut Vec<Problem>) {
    let root_servers = names(doc.get("servers"));
    for (name, channel) in entries(doc.get("channels")) {
        let at = pointer(&["channels", name]);
        no_query_nor_fragment(name, &at, out);
        let address = channel.get("address").and_then(Value::as_str).unwrap_or("");
        address_parameters(address, channel, &at, false, out);
        let written_servers = written.pointer(&format!("{at}/servers"));
        channel_server_refs(written_servers, &root_servers, &at, out);
    }
    for (name, channel) in entries(doc.pointer("/components/channels")) {
        let at = pointer(&["components", "channels", name]);
        let address = channel.get("address").and_then(Value::as_str).unwrap_or("");
        address_parameters(address, channel, &at, false, out);
    }
    for (name, operation) in entries(written.get("operations")) {
        operation_refs(operation, &pointer(&["operations", name]), out);
    }
}

/// A 3.x channel's servers (as written) must be `$ref`s into the root `servers`.
fn channel_server_refs(
    servers: Option<&Value>,
    root_servers: &[&str],
    at: &str,
    out: &mut Vec<Problem>,
) {
    for (i, server) in servers.items().enumerate() {
        let Some(reference) = server.get("$ref").and_then(Value::as_str) else {
            continue;
        };
        let names_a_root_server = reference
            .strip_prefix("#/servers/")
            .is_some_and(|name| root_servers.iter().any(|s| *s == unescape(name)));
        if !names_a_root_server {
            out.push(Problem::new(
                format!("{at}/servers/{i}/$ref"),
                format!("`{reference}` is not a server of the root `servers`: a channel's servers must be among them"),
                Some("reference a server under the root `servers` (`#/servers/<name>`)".to_owned()),
            ).of_rule("channel-servers"));
        }
    }
}

/// A 3.x operation (as written) names a channel of the root `channels`, and messages of
/// that channel.
fn operation_refs(operation: &Value, at: &str, out: &mut Vec<Problem>) {
    let channel = operation.pointer("/channel/$ref").and_then(Value::as_str);
    if let Some(channel) = channel.filter(|c| !c.starts_with("#/channels/")) {
        out.push(Problem::new(
            format!("{at}/channel/$ref"),
            format!("`{channel}` is not a channel of the root `channels`: an operation's channel must be one of them"),
            Some("reference a channel under the root `channels` (`#/channels/<name>`)".to_owned()),
        ).of_rule("operation-channel"));
    }
    // The official parser checks only operations whose references are strings
    // (others are errors of the structure); without a channel reference no message
    // can belong to it (it compares with the prefix `undefined/messages`).
    let messages: Vec<&Value> = operation.get("messages").items().collect();
    let refs = std::iter::once(operation.get("channel"))
        .chain(messages.iter().copied().map(Some))
        .flatten();
    if refs.filter_map(|r| r.get("$ref")).any(|r| !r.is_string()) {
        return;
    }
    let prefix = format!("{}/messages", channel.unwrap_or("undefined"));
    for (i, message) in messages.into_iter().enumerate() {
        let Some(reference) = message.get("$ref").and_then(Value::as_str) else {
            continue;
        };
        if reference.starts_with(&prefix) {
            continue;
        }
        let help = match channel {
            Some(_) => format!("reference one of the channel's messages (`{prefix}/<name>`)"),
            None => "give the operation its `channel` (a `$ref` into the root `channels`), then reference that channel's messages".to_owned(),
        };
        out.push(
            Problem::new(
                format!("{at}/messages/{i}"),
                format!("`{reference}` is not a message of the operation's channel"),
                Some(help),
            )
            .of_rule("operation-messages"),
        );
    }
}

/// Security requirements naming schemes `components.securitySchemes` does not define,
/// or OAuth2 scopes their scheme's flows do not have.
fn security_requirements(
    requirements: Option<&Value>,
    defined: Option<&Value>,
    at: &str,
    owner: &str,
    out: &mut Vec<Problem>,
) {
    let schemes = names(defined);
    let listed = requirements.items();
    for (i, requirement) in listed.enumerate() {
        for (scheme, scopes) in entries(Some(requirement)) {
            let requirement_at = pointer_under(&format!("{at}/security/{i}"), scheme);
            match defined.and_then(|d| d.get(scheme)) {
                Some(definition) => oauth2_scopes(definition, scopes, &requirement_at, out),
                None => out.push(
                    Problem::new(
                        requirement_at,
                        format!("this {owner} requires the security scheme `{scheme}`, which `components.securitySchemes` does not define"),
                        Some(suggestion(
                            scheme,
                            &schemes,
                            &format!("add `components.securitySchemes.{scheme}` describing the scheme (e.g. `type: userPassword`)"),
                        )),
                    )
                    .of_rule(SECURITY_RULE),
                ),
            }
        }
    }
}

/// The scopes an OAuth2 requirement lists must be scopes of one of its scheme's flows.
fn oauth2_scopes(scheme: &Value, scopes: &Value, at: &str, out: &mut Vec<Problem>) {
    if scheme.get("type").and_then(Value::as_str) != Some("oauth2") {
        return;
    }
    let mut available: Vec<&str> = Vec::new();
    for flow in [
        "implicit",
        "password",
        "clientCredentials",
        "authorizationCode",
    ] {
        let flow_scopes = scheme
            .get("flows")
            .and_then(|f| f.get(flow))
            .and_then(|f| f.get("scopes"));
        for (name, _) in entries(flow_scopes) {
            if !available.contains(&name) {
                available.push(name);
            }
        }
    }
    for (i, scope) in scopes.as_array().into_iter().flatten().enumerate() {
        let Some(scope) = scope.as_str().filter(|s| !available.contains(s)) else {
            continue;
        };
        let declared = if available.is_empty() {
            "its flows declare none".to_owned()
        } else {
            format!(
                "its flows declare {}",
                one_of_list(&available).replace(" or ", " and ")
            )
        };
        out.push(
            Problem::new(
                format!("{at}/{i}"),
                format!("`{scope}` is not a scope of this OAuth2 scheme: {declared}"),
                Some(suggestion(
                    scope,
                    &available,
                    "list only scopes one of the scheme's `flows` declares",
                )),
            )
            .of_rule("security-scopes"),
        );
    }
}

/// `{name}`s of an address (or URL) and the mapping that defines them: each must be
/// defined, and each definition used. Checked only where the mapping is given and, in
/// 2.x, only for an address with placeholders, as the official parser does.
fn address_parameters(address: &str, owner: &Value, at: &str, v2: bool, out: &mut Vec<Problem>) {
    if v2 && placeholders(address).is_empty() {
        return;
    }
    url_variables_of(
        address,
        owner.get("parameters"),
        at,
        "parameters",
        "channel address",
        out,
    );
}

fn url_variables(
    owner: &Value,
    url_field: &str,
    mapping: &str,
    at: &str,
    what: &str,
    out: &mut Vec<Problem>,
) {
    let url = owner.get(url_field).and_then(Value::as_str).unwrap_or("");
    if placeholders(url).is_empty() {
        return;
    }
    url_variables_of(url, owner.get(mapping), at, mapping, what, out);
}

fn url_variables_of(
    text: &str,
    defined: Option<&Value>,
    at: &str,
    mapping: &str,
    what: &str,
    out: &mut Vec<Problem>,
) {
    let Some(Value::Object(defined)) = defined else {
        return;
    };
    let used = placeholders(text);
    let missing: Vec<&str> = used
        .iter()
        .copied()
        .filter(|u| !defined.contains_key(*u))
        .collect();
    if !missing.is_empty() {
        out.push(
            Problem::new(
                format!("{at}/{mapping}"),
                format!(
                    "the {what} `{text}` uses {} that `{mapping}` does not define",
                    missing
                        .iter()
                        .map(|m| format!("`{{{m}}}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(format!(
                    "add {} to `{mapping}`",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
            .of_rule("address-placeholders"),
        );
    }
    for name in defined.keys().filter(|d| !used.contains(&d.as_str())) {
        out.push(
            Problem::new(
                pointer_under(&format!("{at}/{mapping}"), name),
                format!("`{name}` is defined but the {what} `{text}` has no `{{{name}}}`"),
                Some(suggestion(
                    name,
                    &used,
                    "remove it, or use it in the address",
                )),
            )
            .of_rule("address-placeholders"),
        );
    }
}

fn channel_servers(channel: &Value, servers: &[&str], at: &str, out: &mut Vec<Problem>) {
    for (i, server) in channel.get("servers").items().enumerate() {
        let Some(name) = server.as_str() else {
            continue;
        };
        if !servers.contains(&name) {
            out.push(
                Problem::new(
                    format!("{at}/servers/{i}"),
                    format!(
                        "the channel names the server `{name}`, which `servers` does not define"
                    ),
                    Some(suggestion(
                        name,
                        servers,
                        "define it under `servers`, or remove it here",
                    )),
                )
                .of_rule("channel-servers"),
            );
        }
    }
}

fn no_query_nor_fragment(name: &str, at: &str, out: &mut Vec<Problem>) {
    if name.contains(['?', '#']) {
        out.push(Problem::new(
            at.to_owned(),
            format!("the channel `{name}` has a query (`?`) or fragment (`#`) part, which a channel address cannot have"),
            Some("remove the `?...` or `#...` part of the channel's name".to_owned()),
        ).of_rule("channel-address"));
    }
}

fn unique_tags(tags: Option<&Value>, at: &str, out: &mut Vec<Problem>) {
    let mut seen = Seen::default();
    for (i, tag) in tags.items().enumerate() {
        if let Some(name) = tag.get("name").and_then(Value::as_str) {
            seen.add(name, format!("{at}/{i}/name"), "tag name", out);
        }
    }
}

/// The messages of a 2.x operation (one, or the members of its `oneOf`), with pointers.
fn messages_of<'a>(operation: &'a Value, at: &str) -> Vec<(&'a Value, String)> {
    let Some(message) = operation.get("message") else {
        return Vec::new();
    };
    match message.get("oneOf").and_then(Value::as_array) {
        Some(members) => members
            .iter()
            .enumerate()
            .map(|(i, m)| (m, format!("{at}/message/oneOf/{i}")))
            .collect(),
        None => vec![(message, format!("{at}/message"))],
    }
}

/// Values that must be unique across the document, with where each was first seen.
#[derive(Default)]
struct Seen(HashMap<String, String>);

impl Seen {
    fn add(&mut self, value: &str, at: String, what: &str, out: &mut Vec<Problem>) {
        match self.0.get(value) {
            Some(first) if *first != at => out.push(Problem::new(
                at,
                format!("the {what} `{value}` is used twice: it must be unique (first at `#{first}`)"),
                Some("rename one of the two".to_owned()),
            ).of_rule("unique-names")),
            Some(_) => {}
            None => {
                self.0.insert(value.to_owned(), at);
            }
        }
    }
}

fn entries(value: Option<&Value>) -> impl Iterator<Item = (&str, &Value)> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::iter)
        .map(|(k, v)| (k.as_str(), v))
}

fn names(value: Option<&Value>) -> Vec<&str> {
    entries(value).map(|(k, _)| k).collect()
}

fn pointer(segments: &[&str]) -> String {
    let mut p = String::new();
    for s in segments {
        push_segment(&mut p, s);
    }
    p
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn suggestion(name: &str, known: &[&str], otherwise: &str) -> String {
    match closest(name, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => otherwise.to_owned(),
    }
}
