//! SASL/SCRAM-SHA-512 in plain text and over TLS (a test CA), through the constructors
//! `asyncapi!` generates for `tests/specs/secure-greetings.yaml`: the document names
//! the schemes, `KAFKA_SASL_*` carry the credentials and `KAFKA_SSL_CA_LOCATION` the CA.
//! A wrong password and an untrusted certificate must each end sends and consumers
//! in a typed error within [`BOUND`], and no secret may reach an error or a log line.
//!
//! The environment is process-wide, so every scenario runs in one test, in turn.
//! Figures are printed: `cargo test -p asyncapi-test-support --features kafka --test
//! security -- --nocapture`.
#![cfg(feature = "kafka")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncapi_runtime::{CancellationToken, ConnectionError, ConsumerError, SendError};
use asyncapi_runtime::{
    ENV_BOOTSTRAP_SERVERS, ENV_SASL_PASSWORD, ENV_SASL_USERNAME, ENV_SSL_CA_LOCATION,
};
use asyncapi_test_support::kafka::{ClientListener, Kafka, KafkaOptions, SCRAM_USER};
use futures::StreamExt;

mod secure {
    asyncapi_runtime::asyncapi!("tests/specs/secure-greetings.yaml");
}

use secure::{channels::Greetings, servers, Application, Client, Greeting};

/// How long a refused client may take to say so.
const BOUND: Duration = Duration::from_secs(30);
/// The whole test, brokers' start included.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const TOPIC: &str = "secure.greetings";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_and_tls_through_generated_constructors() {
    let logs = Logs::capture();
    let (plain, tls) = tokio::join!(
        start(ClientListener::SaslScram),
        start(ClientListener::SaslScramTls)
    );
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let secrets = [
        plain.scram_password().expect("SCRAM password").to_owned(),
        tls.scram_password().expect("SCRAM password").to_owned(),
        wrong.clone(),
    ];
    let scenarios = async {
        round_trip_plain(&plain).await;
        round_trip_tls(&tls).await;
        wrong_password(&plain, &wrong, &secrets).await;
        untrusted_certificate(&tls, &secrets).await;
    };
    tokio::time::timeout(TEST_TIMEOUT, scenarios)
        .await
        .unwrap_or_else(|_| panic!("scenarios did not finish within {TEST_TIMEOUT:?}"));
    let text = logs.text();
    assert!(
        text.contains("authentication failed") && text.contains("TLS handshake failed"),
        "the refusals were not logged; captured:\n{}",
        tail(&text)
    );
    assert_no_secret("the captured tracing output", &text, &secrets);
    println!(
        "captured tracing output: {} lines, no password in it",
        text.lines().count()
    );
}

/// SASL_PLAINTEXT: both sides from `for_server(&servers::SCRAM, port)`.
async fn round_trip_plain(kafka: &Kafka) {
    set_env(&[
        (ENV_SASL_USERNAME, Some(SCRAM_USER)),
        (ENV_SASL_PASSWORD, kafka.scram_password()),
        (ENV_BOOTSTRAP_SERVERS, None),
        (ENV_SSL_CA_LOCATION, None),
    ]);
    let port = port_of(kafka);
    let vars = [("port", port.as_str())];
    let app = Application::for_server(&servers::SCRAM, &vars).expect("application");
    let client = Client::for_server(&servers::SCRAM, &vars).expect("client");
    assert_eq!(
        app.config().get("security.protocol"),
        Some("SASL_PLAINTEXT")
    );
    let secret = [kafka.scram_password().unwrap_or_default().to_owned()];
    assert_no_secret(
        "the config's Debug",
        &format!("{:?}", app.config()),
        &secret,
    );
    round_trip("SASL_PLAINTEXT, for_server", app, client, 1).await;
}

/// SASL_SSL: both sides from `from_env()`, which picks the document's first Kafka
/// server (`scramTls`) and trusts the CA of `KAFKA_SSL_CA_LOCATION`.
async fn round_trip_tls(kafka: &Kafka) {
    let ca = kafka.ca_pem().expect("test CA").display().to_string();
    set_env(&[
        (ENV_SASL_USERNAME, Some(SCRAM_USER)),
        (ENV_SASL_PASSWORD, kafka.scram_password()),
        (ENV_BOOTSTRAP_SERVERS, Some(&kafka.bootstrap_servers())),
        (ENV_SSL_CA_LOCATION, Some(&ca)),
    ]);
    let app = Application::from_env().expect("application");
    let client = Client::from_env().expect("client");
    assert_eq!(app.config().get("security.protocol"), Some("SASL_SSL"));
    round_trip("SASL_SSL, from_env", app, client, 2).await;
}

/// Sends one greeting and receives it through the client's subscription.
async fn round_trip(label: &str, app: Application, client: Client, seq: i64) {
    let mut consumer = client
        .consumer()
        .group_id(format!("secure-{}", uuid::Uuid::new_v4()));
    let mut greetings = consumer.subscribe::<Greetings>();
    let token = CancellationToken::new();
    let run = tokio::spawn(consumer.run(token.clone()));

    let sent = Greeting {
        text: format!("hello over {label}"),
        seq,
    };
    let started = Instant::now();
    let delivery = tokio::time::timeout(BOUND, app.send_greetings(&sent))
        .await
        .unwrap_or_else(|_| panic!("{label}: send not acknowledged within {BOUND:?}"))
        .unwrap_or_else(|e| panic!("{label}: send failed: {e}"));
    let connected = started.elapsed();
    let received = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let r = greetings.next().await.expect("subscription ended");
            // An earlier scenario's greeting on the same broker is not this one.
            if r.message.seq == seq {
                break r;
            }
            r.ack();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{label}: greeting not received within 60 s"));
    let round_trip = started.elapsed();
    assert_eq!(received.message, sent);
    assert_eq!(received.context.offset, delivery.offset);
    received.ack();
    println!(
        "{label}: first send acknowledged (connect + authenticate + produce) in {} ms, received by the generated subscription after {} ms",
        connected.as_millis(),
        round_trip.as_millis()
    );
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("consumer did not stop within 30 s")
        .expect("consumer task panicked")
        .expect("consumer returned an error");
}

/// SASL_PLAINTEXT with a wrong password: the send and the consumer each fail with
/// `ConnectionError::Authentication` naming the broker.
async fn wrong_password(kafka: &Kafka, wrong: &str, secrets: &[String]) {
    set_env(&[
        (ENV_SASL_USERNAME, Some(SCRAM_USER)),
        (ENV_SASL_PASSWORD, Some(wrong)),
        (ENV_BOOTSTRAP_SERVERS, None),
        (ENV_SSL_CA_LOCATION, None),
    ]);
    let port = port_of(kafka);
    let vars = [("port", port.as_str())];
    let app = || Application::for_server(&servers::SCRAM, &vars).expect("application");
    let client = Client::for_server(&servers::SCRAM, &vars).expect("client");
    let broker = kafka.bootstrap_servers();
    let is_auth = |e: &ConnectionError| matches!(e, ConnectionError::Authentication { .. });
    refused_send("wrong password", app, &broker, is_auth, secrets).await;
    refused_consumer("wrong password", client, &broker, is_auth, secrets).await;
}

/// SASL_SSL with the right password but no CA: the broker's certificate cannot be
/// verified, so the send and the consumer each fail with `ConnectionError::Tls`.
async fn untrusted_certificate(kafka: &Kafka, secrets: &[String]) {
    set_env(&[
        (ENV_SASL_USERNAME, Some(SCRAM_USER)),
        (ENV_SASL_PASSWORD, kafka.scram_password()),
        (ENV_BOOTSTRAP_SERVERS, Some(&kafka.bootstrap_servers())),
        (ENV_SSL_CA_LOCATION, None),
    ]);
    let app = || Application::from_env().expect("application");
    let client = Client::from_env().expect("client");
    let broker = kafka.bootstrap_servers();
    let is_tls = |e: &ConnectionError| matches!(e, ConnectionError::Tls { .. });
    refused_send("untrusted CA", app, &broker, is_tls, secrets).await;
    refused_consumer("untrusted CA", client, &broker, is_tls, secrets).await;
}

/// Builds the application (its client starts connecting then) and sends at once.
async fn refused_send(
    label: &str,
    app: impl FnOnce() -> Application,
    broker: &str,
    expected: impl Fn(&ConnectionError) -> bool,
    secrets: &[String],
) {
    let greeting = Greeting {
        text: "never delivered".into(),
        seq: 0,
    };
    let started = Instant::now();
    let app = app();
    let err = tokio::time::timeout(BOUND, app.send_greetings(&greeting))
        .await
        .unwrap_or_else(|_| panic!("{label}: send neither failed nor succeeded within {BOUND:?}"))
        .expect_err("a refused client cannot deliver");
    let took = started.elapsed();
    let SendError::Connection { source, record } = &err else {
        panic!("{label}: expected SendError::Connection, got {err:?}");
    };
    assert!(expected(source), "{label}: wrong kind: {source:?}");
    assert_eq!(record.topic, TOPIC);
    check_error(label, &err, broker, secrets);
    // The failure is remembered: a later send is refused at once.
    let again = Instant::now();
    let second = app.send_greetings(&greeting).await.expect_err("refused");
    let again = again.elapsed();
    assert!(matches!(second, SendError::Connection { .. }), "{second:?}");
    assert!(again < Duration::from_secs(1), "second send took {again:?}");
    println!(
        "{label}: send failed {} ms after the application was built, with: {err}\n{label}: a second send was refused after {} µs",
        took.as_millis(),
        again.as_micros()
    );
}

async fn refused_consumer(
    label: &str,
    client: Client,
    broker: &str,
    expected: impl Fn(&ConnectionError) -> bool,
    secrets: &[String],
) {
    let mut consumer = client
        .consumer()
        .group_id(format!("refused-{}", uuid::Uuid::new_v4()));
    let _greetings = consumer.subscribe::<Greetings>();
    let started = Instant::now();
    let err = tokio::time::timeout(BOUND, consumer.run(CancellationToken::new()))
        .await
        .unwrap_or_else(|_| panic!("{label}: consumer still running after {BOUND:?}"))
        .expect_err("a refused consumer cannot run");
    let took = started.elapsed();
    let ConsumerError::Connection(source) = &err else {
        panic!("{label}: expected ConsumerError::Connection, got {err:?}");
    };
    assert!(expected(source), "{label}: wrong kind: {source:?}");
    check_error(label, &err, broker, secrets);
    println!(
        "{label}: consumer's run returned {} ms after it started, with: {err}",
        took.as_millis()
    );
}

/// The error says what failed and where, and holds no secret.
fn check_error(label: &str, err: &dyn std::error::Error, broker: &str, secrets: &[String]) {
    let display = err.to_string();
    let debug = format!("{err:?} {err:#?}");
    let what = if display.contains("TLS") {
        "TLS handshake failed"
    } else {
        "authentication failed"
    };
    assert!(display.contains(what), "{label}: {display}");
    assert!(
        display.contains(broker),
        "{label}: the error does not name the broker {broker}: {display}"
    );
    assert_no_secret(&format!("{label}: Display"), &display, secrets);
    assert_no_secret(&format!("{label}: Debug"), &debug, secrets);
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains a password"
        );
    }
}

/// Sets (`Some`) or removes (`None`) environment variables. Only this test's thread
/// of control touches them.
fn set_env(vars: &[(&str, Option<&str>)]) {
    for (name, value) in vars {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
}

fn port_of(kafka: &Kafka) -> String {
    let bootstrap = kafka.bootstrap_servers();
    let (_, port) = bootstrap.rsplit_once(':').expect("host:port");
    port.to_owned()
}

/// Starts a one-node cluster with `listener` and creates the greetings topic.
async fn start(listener: ClientListener) -> Kafka {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let kafka = Kafka::start_with(KafkaOptions {
            listener,
            ..KafkaOptions::default()
        })
        .unwrap_or_else(|e| panic!("starting Kafka with {listener:?}: {e}"));
        kafka.create_topic(TOPIC, 1).expect("create topic");
        println!(
            "{listener:?} broker ready in {} ms",
            started.elapsed().as_millis()
        );
        kafka
    })
    .await
    .expect("kafka start task")
}

/// Everything the runtime and librdkafka log during the test, at debug level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> Self {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("this test binary installs the only subscriber");
        logs
    }

    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[start..]
}
