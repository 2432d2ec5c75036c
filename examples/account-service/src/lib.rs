//! The Account Management Service of `specs/account-service.yaml`: the generated
//! contract and the service's handler, shared by the binary (`src/main.rs`) and its
//! tests (`tests/in_memory.rs`, on the in-memory broker of `asyncapi_runtime::testing`).

use asyncapi_runtime::{event_listener, MessageContext, Shared};

// The seed document is imperfect on purpose (an undeclared `{version}` server variable,
// a security requirement naming no scheme): `asyncapi!` reports both as warnings.
#[allow(deprecated)]
pub mod account {
    asyncapi_runtime::asyncapi!("specs/account-service.yaml");
}

use account::{AccountCreated, UserSignup};

/// The service's handler: opens an account for every signup and announces it.
#[event_listener(api = account, channel = "user/signup", group = "account-service")]
pub async fn on_signup(
    signup: UserSignup,
    ctx: MessageContext,
    service: Shared<account::Application>,
) -> anyhow::Result<()> {
    let email = signup.email.clone().unwrap_or_default();
    let account = AccountCreated {
        account_id: Some(format!("acc-{}", ctx.offset + 1)),
        balance: Some(0.0),
    };
    println!(
        "service  <- user/signup      {email} (partition {}, offset {})",
        ctx.partition, ctx.offset
    );
    service.send_account_created(&account).await?;
    println!(
        "service  -> account/created  {}",
        account.account_id.as_deref().unwrap_or("?")
    );
    Ok(())
}

/// `docs/guide.md`, whose code blocks are compiled and run as this crate's doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
pub struct Guide;

/// The workspace's `README.md`: its Rust blocks are compiled as this crate's doc-tests
/// (the in-memory one is run), so the README's code cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;
