mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup, context: asyncapi_runtime::MessageContext, extra: u32) {
    let _ = (message, context, extra);
}

fn main() {}
