// Every accepted handler shape and every option, registered on one consumer.
mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}

use account::*;
use asyncapi_runtime::MessageContext;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn message_only(message: UserSignup) {
    let _ = message;
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn with_context(message: UserSignup, context: MessageContext) {
    let _ = (message, context.topic);
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn unit_return(message: UserSignup) -> () {
    let _ = message;
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn string_error(message: UserSignup) -> Result<(), String> {
    message
        .email
        .map(|_| ())
        .ok_or_else(|| "no email".to_owned())
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn anyhow_error(message: UserSignup) -> anyhow::Result<()> {
    anyhow::ensure!(message.name.is_some(), "no name");
    Ok(())
}

mod my {
    pub type Result<T, E = std::io::Error> = std::result::Result<T, E>;
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn alias_error(message: UserSignup) -> my::Result<()> {
    let _ = message;
    Ok(())
}

#[asyncapi_runtime::event_listener(
    channel = "user/signup",
    side = Application,
    group = "accounts",
    max_attempts = 5,
    dead_letter = "user.signup.dlq",
    concurrency = 4,
)]
pub async fn every_option(
    message: UserSignup,
    _context: MessageContext,
) -> Result<(), std::io::Error> {
    let _ = message;
    Ok(())
}

struct Accounts {
    prefix: &'static str,
}

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn with_state(
    message: UserSignup,
    context: MessageContext,
    accounts: asyncapi_runtime::Shared<Accounts>,
) {
    let _ = (message, context, accounts.prefix);
}

#[allow(dead_code)]
fn register(app: &Application) -> asyncapi_runtime::Consumer<Application> {
    app.consumer()
        .with_state(Accounts { prefix: "acc-" })
        .listen::<with_state>()
        .listen::<message_only>()
        .listen::<with_context>()
        .listen::<unit_return>()
        .listen::<string_error>()
        .listen::<anyhow_error>()
        .listen::<alias_error>()
        .listen::<every_option>()
}

// The handler stays an ordinary async fn, callable from unit tests.
#[allow(dead_code)]
async fn call_directly() {
    message_only(UserSignup {
        email: None,
        name: None,
    })
    .await;
}

fn main() {}
