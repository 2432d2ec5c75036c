//! `dlq show` and `dlq replay`: a channel's dead-letter topic, read and replayed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{bail, Context as _};
use asyncapi_codegen::broker::dead_letter_topic;
use asyncapi_runtime::{DeadLetter, DeadLetterReader, Producer};
use serde_json::{json, Value};

use crate::broker::{self, BrokerArgs};
use crate::check::{expand_document, print_errors};
use crate::{output, Format};

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Print the records of a channel's dead-letter topic: why, from where, what.
    Show {
        #[command(flatten)]
        target: Target,
        /// Records shown at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Send dead-lettered records back to the topic they came from.
    Replay {
        #[command(flatten)]
        target: Target,
        /// The dead letters to replay, as `partition:offset` of the dead-letter topic.
        #[arg(
            long = "offset",
            value_name = "PARTITION:OFFSET",
            required_unless_present = "all"
        )]
        offsets: Vec<Position>,
        /// Replay every record of the dead-letter topic.
        #[arg(long, conflicts_with = "offsets")]
        all: bool,
    },
}

/// Which dead-letter topic, on which broker.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The AsyncAPI document.
    document: PathBuf,
    /// The channel's id (3.x) or name (2.x) in the document.
    channel: String,
    /// The dead-letter topic, when it is not the default `<topic>.dlq` (a listener's
    /// own, or one topic of a channel with parameters).
    #[arg(long)]
    topic: Option<String>,
    #[command(flatten)]
    broker: BrokerArgs,
}

/// A record's place in the dead-letter topic: `partition:offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    partition: i32,
    offset: i64,
}

impl FromStr for Position {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (partition, offset) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not `partition:offset`"))?;
        Ok(Position {
            partition: partition
                .trim()
                .parse()
                .map_err(|_| format!("`{partition}` is not a partition number"))?,
            offset: offset
                .trim()
                .parse()
                .map_err(|_| format!("`{offset}` is not an offset"))?,
        })
    }
}

pub fn run(command: DlqCommand) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::Show {
            target,
            limit,
            format,
        } => {
            let Some(reader) = reader(&target)? else {
                return Ok(ExitCode::FAILURE);
            };
            let letters = broker::block_on(reader.limit(limit).read())??;
            match format {
                Format::Human => print_human(&target.channel, &letters),
                Format::Json => output::print_json(&json!({
                    "channel": target.channel,
                    "dead_letters": letters.iter().map(letter_json).collect::<Vec<_>>(),
                })),
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay {
            target,
            offsets,
            all,
        } => {
            let Some(reader) = reader(&target)? else {
                return Ok(ExitCode::FAILURE);
            };
            let config = target.broker.config()?;
            broker::block_on(replay(reader.limit(usize::MAX), &config, &offsets, all))?
        }
    }
}

/// The reader of the target's dead-letter topic; `None` when the document has errors.
fn reader(target: &Target) -> anyhow::Result<Option<DeadLetterReader>> {
    let expansion = match expand_document(&target.document) {
        Ok(expansion) => expansion,
        Err(errors) => {
            print_errors(&errors);
            return Ok(None);
        }
    };
    let topic = match &target.topic {
        Some(topic) => topic.clone(),
        None => default_topic(&target.document, &expansion.document, &target.channel)?,
    };
    Ok(Some(DeadLetterReader::new(&target.broker.config()?, topic)))
}

/// `<topic>.dlq` of `channel`, or why there is none.
fn default_topic(
    document: &Path,
    model: &asyncapi_codegen::ir::Document,
    channel: &str,
) -> anyhow::Result<String> {
    let Some(found) = model.channels.iter().find(|c| c.id == channel) else {
        let ids: Vec<&str> = model.channels.iter().map(|c| c.id.as_str()).collect();
        bail!(
            "{} has no channel `{channel}`; its channels: {}",
            document.display(),
            ids.join(", ")
        );
    };
    match &found.topic {
        Ok(topic) if found.parameters.is_empty() && !topic.contains('{') => {
            Ok(dead_letter_topic(topic))
        }
        Ok(topic) => bail!(
            "channel `{channel}` has parameters ({topic}): each of its topics has its own dead-letter topic; name one with --topic"
        ),
        Err(why) => bail!("channel `{channel}` has no Kafka topic: {why}"),
    }
}

async fn replay(
    reader: DeadLetterReader,
    config: &asyncapi_runtime::KafkaConfig,
    positions: &[Position],
    all: bool,
) -> anyhow::Result<ExitCode> {
    let letters = reader.read().await?;
    let producer = Producer::new(config).context("cannot create a producer")?;
    let chosen: Vec<&DeadLetter> = letters
        .iter()
        .filter(|l| {
            all || positions.contains(&Position {
                partition: l.partition,
                offset: l.offset,
            })
        })
        .collect();
    let mut failed = 0;
    for position in positions {
        if !chosen
            .iter()
            .any(|l| (l.partition, l.offset) == (position.partition, position.offset))
        {
            eprintln!(
                "error: {} has no record at {}:{}",
                reader.topic(),
                position.partition,
                position.offset
            );
            failed += 1;
        }
    }
    for letter in chosen {
        match reader.replay(&producer, letter).await {
            Ok(delivery) => println!(
                "replayed {}:{} to {} (partition {}, offset {})",
                letter.partition,
                letter.offset,
                delivery.topic,
                delivery.partition,
                delivery.offset
            ),
            Err(error) => {
                eprintln!("error: {error}");
                failed += 1;
            }
        }
    }
    producer
        .shutdown(std::time::Duration::from_secs(10))
        .await
        .context("cannot flush the replayed records")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_human(channel: &str, letters: &[DeadLetter]) {
    println!("{} dead letters of channel `{channel}`", letters.len());
    for letter in letters {
        let reason = letter.reason.as_deref().unwrap_or("unknown reason");
        let attempts = letter
            .attempts
            .map(|a| format!(" after {a} attempts"))
            .unwrap_or_default();
        let source = letter
            .source
            .as_ref()
            .map(|s| {
                format!(
                    ", from {} partition {} offset {}",
                    s.topic, s.partition, s.offset
                )
            })
            .unwrap_or_default();
        println!(
            "{}:{}  {reason}{attempts}{source}",
            letter.partition, letter.offset
        );
        if let Some(error) = &letter.error {
            println!("  error: {error}");
        }
        if let Some(key) = &letter.key {
            println!("  key: {}", describe_bytes(key));
        }
        if let Some(why) = &letter.envelope_omitted {
            println!("  key and headers: not dead-lettered ({why})");
        }
        match &letter.payload_omitted {
            Some(why) => println!("  payload: not dead-lettered ({why})"),
            None => println!("  payload: {}", describe_bytes(&letter.payload)),
        }
    }
}

/// Bytes as JSON or text when they are, else their size.
fn describe_bytes(bytes: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return value.to_string();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("{} bytes, not UTF-8", bytes.len()),
    }
}

/// Bytes as a JSON value when they are JSON, else text, else `null` (with the size).
fn bytes_json(bytes: &[u8]) -> Value {
    serde_json::from_slice::<Value>(bytes)
        .or_else(|_| std::str::from_utf8(bytes).map(|t| Value::String(t.to_owned())))
        .unwrap_or(Value::Null)
}

fn letter_json(letter: &DeadLetter) -> Value {
    json!({
        "partition": letter.partition,
        "offset": letter.offset,
        "reason": letter.reason,
        "error": letter.error,
        "attempts": letter.attempts,
        "source": letter.source.as_ref().map(|s| json!({
            "topic": s.topic, "partition": s.partition, "offset": s.offset,
        })),
        "key": letter.key.as_deref().map(bytes_json),
        "payload": bytes_json(&letter.payload),
        "payload_size": letter.payload.len(),
        "payload_omitted": letter.payload_omitted,
        "envelope_omitted": letter.envelope_omitted,
        "headers": letter.headers.iter().map(|(name, value)| json!({
            "name": name, "value": bytes_json(value),
        })).collect::<Vec<_>>(),
        "replayable": letter.not_replayable().is_none(),
    })
}
