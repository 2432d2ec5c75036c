//! `asyncapi-kafka`: what `asyncapi!` does to a document, from a shell.
//!
//! `expand` prints the generated code, `check` validates documents as the macro would
//! (exit code 1 when one has errors), `topics` lists and creates the topics a side
//! needs, `dlq` reads a channel's dead-letter topic and replays its records.
//! Exit codes: 0 success, 1 a document has errors or a broker operation failed, 2 the
//! command line is wrong.

mod broker;
mod check;
mod dlq;
mod output;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "asyncapi-kafka",
    version,
    about = "AsyncAPI documents served on Kafka: expand, check, topics, dead letters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the Rust code `asyncapi!` generates for a document.
    Expand {
        /// The AsyncAPI document (YAML or JSON).
        document: PathBuf,
    },
    /// Validate documents as `asyncapi!` would: every problem with file:line:col.
    Check {
        /// The AsyncAPI documents (YAML or JSON).
        #[arg(required = true)]
        documents: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List the topics and dead-letter topics a side of a document needs, and create them.
    Topics {
        document: PathBuf,
        #[arg(long, value_enum, default_value_t = topics::SideArg::Application)]
        side: topics::SideArg,
        /// Create the topics that do not exist yet (with the document's partitions,
        /// replicas and topic configs).
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        broker: broker::BrokerArgs,
        /// Partitions of a created topic whose binding names none.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Read or replay a channel's dead-letter topic.
    Dlq {
        #[command(subcommand)]
        action: dlq::DlqCommand,
    },
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people: one line per finding, with file:line:col.
    Human,
    /// One JSON document on stdout, for CI and scripts.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Expand { document } => check::expand(&document),
        Command::Check { documents, format } => check::check(&documents, format),
        Command::Topics {
            document,
            side,
            create,
            broker,
            partitions,
            format,
        } => topics::run(
            &document,
            side.into(),
            create.then_some(&broker),
            partitions,
            format,
        ),
        Command::Dlq { action } => dlq::run(action),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
