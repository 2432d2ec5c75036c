//! The Account Management Service of `specs/account-service.yaml`, end to end.
//!
//! The service receives `user/signup` and answers on `account/created`; a client signs
//! users up and waits for their accounts. Runs on the embedded broker (librdkafka's mock
//! cluster) unless `KAFKA_BOOTSTRAP_SERVERS` names a real one.
//!
//! `cargo run -p account-service`

use std::sync::Arc;
use std::time::Duration;

use account_service::account::{self, UserSignup};
use account_service::on_signup;
use anyhow::Context as _;
use asyncapi_runtime::{CancellationToken, LocalKafka};
use futures::StreamExt;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let runtime = tokio::runtime::Runtime::new()?;

    // A real broker when KAFKA_BOOTSTRAP_SERVERS is set, else the embedded one; the
    // topics (and dead-letter topics) of both sides created on it either way.
    let topics = [
        account::Application::TOPIC_SPECS,
        account::Client::TOPIC_SPECS,
    ]
    .concat();
    let kafka = runtime.block_on(LocalKafka::start(&topics, 1))?;
    println!("broker: {kafka}");
    let outcome = runtime.block_on(round_trip(kafka.config()));
    // Dropping the runtime waits for its blocking pool, where the last producer clones
    // flush and close: the embedded broker outlives every client, which would
    // otherwise log that its broker went away.
    drop(runtime);
    drop(kafka);
    outcome
}

/// The service and a client on `config`: three signups sent, three accounts received.
async fn round_trip(config: asyncapi_runtime::KafkaConfig) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();

    // The service: listens on user/signup, sends on account/created.
    let service = Arc::new(account::Application::new(config.clone())?);
    let service_loop = service
        .consumer()
        .with_shared_state(service.clone())
        .listen::<on_signup>();
    let service_task = tokio::spawn(service_loop.run(shutdown.clone()));

    // The client: the mirror image, a typed stream of account/created.
    let client = account::Client::new(config.clone())?;
    let mut client_consumer = client.consumer().group_id("account-client");
    let mut accounts = client_consumer.subscribe::<account::channels::AccountCreated>();
    let client_task = tokio::spawn(client_consumer.run(shutdown.clone()));

    let users = [
        ("ada@example.com", "Ada"),
        ("grace@example.com", "Grace"),
        ("edsger@example.com", "Edsger"),
    ];
    for (email, name) in users {
        let signup = UserSignup {
            email: Some(email.into()),
            name: Some(name.into()),
        };
        let delivery = client.send_user_signup(&signup).await?;
        println!(
            "client   -> user/signup      {email} (partition {}, offset {})",
            delivery.partition, delivery.offset
        );
    }

    let mut received = 0;
    while received < users.len() {
        let next = tokio::time::timeout(Duration::from_secs(30), accounts.next())
            .await
            .context("no account created within 30 s")?;
        let Some(message) = next else { break };
        println!(
            "client   <- account/created  {} (balance {:?})",
            message.message.account_id.as_deref().unwrap_or("?"),
            message.message.balance
        );
        message.ack();
        received += 1;
    }
    println!("round trip complete: {received} signups, {received} accounts");

    shutdown.cancel();
    service_task.await??;
    client_task.await??;
    Ok(())
}
