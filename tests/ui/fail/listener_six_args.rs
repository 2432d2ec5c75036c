mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;
use asyncapi_runtime::{Headers, Key, MessageContext, RawHeaders, Shared};

// The message and at most one each of context, state, key and headers: five at most.
#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(
    message: UserSignup,
    context: MessageContext,
    state: Shared<u32>,
    key: Key<Vec<u8>>,
    headers: Headers<RawHeaders>,
    extra: u32,
) {
    let _ = (message, context, state, key, headers, extra);
}

fn main() {}
