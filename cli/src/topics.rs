//! `topics`: the topics a side of a document needs, listed and created.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use asyncapi_codegen::broker::{BrokerNeeds, Side, TopicNeed, TopicRole};
use asyncapi_runtime::TopicSpec;
use serde_json::{json, Value};

use crate::broker::{self, BrokerArgs};
use crate::check::{expand_document, print_errors};
use crate::{output, Format};

/// The side named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideArg {
    /// The application the document describes.
    Application,
    /// Its client, the mirror image.
    Client,
}

impl From<SideArg> for Side {
    fn from(side: SideArg) -> Side {
        match side {
            SideArg::Application => Side::Application,
            SideArg::Client => Side::Client,
        }
    }
}

/// Lists what `side` needs; with `create`, creates what is missing on that broker.
pub fn run(
    document: &Path,
    side: Side,
    create: Option<&BrokerArgs>,
    partitions: i32,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let expansion = match expand_document(document) {
        Ok(expansion) => expansion,
        Err(errors) => {
            print_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
    };
    let needs = expansion.broker_needs(side);
    let created = match create {
        Some(args) => Some(create_topics(args, &needs, partitions)?),
        None => None,
    };
    match format {
        Format::Human => print_human(side, &needs, created.as_deref()),
        Format::Json => output::print_json(&as_json(side, &needs, created.as_deref())),
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the fixed-name topics that do not exist yet; returns those it created.
fn create_topics(
    args: &BrokerArgs,
    needs: &BrokerNeeds,
    partitions: i32,
) -> anyhow::Result<Vec<String>> {
    let config = args.config()?;
    let configs: Vec<Vec<(&str, &str)>> = needs
        .topics
        .iter()
        .map(|t| {
            t.binding
                .config
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let specs: Vec<TopicSpec<'_>> = needs
        .topics
        .iter()
        .zip(&configs)
        .map(|(topic, config)| {
            let mut spec = TopicSpec::named(&topic.name);
            spec.partitions = topic.binding.partitions;
            spec.replicas = topic.binding.replicas;
            spec.config = config;
            spec
        })
        .collect();
    broker::block_on(asyncapi_runtime::ensure_topics(&config, &specs, partitions))?
        .context("cannot create the topics")
}

fn role_name(role: TopicRole) -> &'static str {
    match role {
        TopicRole::Channel => "channel",
        TopicRole::DeadLetter => "dead-letter",
        _ => "other",
    }
}

fn print_human(side: Side, needs: &BrokerNeeds, created: Option<&[String]>) {
    println!("{} needs {} topics:", side.type_name(), needs.topics.len());
    for topic in &needs.topics {
        println!("  {}", describe(topic, created));
    }
    if !needs.templates.is_empty() {
        println!("Named at run time from channel parameters (not created ahead):");
        for (channel, template) in &needs.templates {
            println!("  {template}  (channel `{channel}`)");
        }
    }
}

/// One line: name, role and channels, then what the binding sets.
fn describe(topic: &TopicNeed, created: Option<&[String]>) -> String {
    let of = match topic.role {
        TopicRole::Channel => "channel",
        TopicRole::DeadLetter => "dead letters of",
        _ => "topic of",
    };
    let channels: Vec<String> = topic.channels.iter().map(|c| format!("`{c}`")).collect();
    let mut line = format!("{}  {of} {}", topic.name, channels.join(", "));
    let binding = &topic.binding;
    if let Some(n) = binding.partitions {
        line.push_str(&format!("; partitions {n}"));
    }
    if let Some(n) = binding.replicas {
        line.push_str(&format!("; replicas {n}"));
    }
    for (name, value) in &binding.config {
        line.push_str(&format!("; {name}={value}"));
    }
    match created {
        Some(created) if created.contains(&topic.name) => line.push_str("  [created]"),
        Some(_) => line.push_str("  [exists]"),
        None => {}
    }
    line
}

fn as_json(side: Side, needs: &BrokerNeeds, created: Option<&[String]>) -> Value {
    let topics: Vec<Value> = needs
        .topics
        .iter()
        .map(|t| {
            let config: serde_json::Map<String, Value> = t
                .binding
                .config
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({
                "name": t.name,
                "role": role_name(t.role),
                "channels": t.channels,
                "partitions": t.binding.partitions,
                "replicas": t.binding.replicas,
                "config": config,
                "created": created.map(|c| c.contains(&t.name)),
            })
        })
        .collect();
    let templates: Vec<Value> = needs
        .templates
        .iter()
        .map(|(channel, topic)| json!({ "channel": channel, "topic": topic }))
        .collect();
    json!({ "side": side.type_name(), "topics": topics, "templates": templates })
}
