mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;
use asyncapi_runtime::{MessageContext, Shared};

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup, context: MessageContext, state: Shared<u32>, extra: u32) {
    let _ = (message, context, state, extra);
}

fn main() {}
