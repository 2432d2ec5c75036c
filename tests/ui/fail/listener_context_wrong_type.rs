mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The second parameter is the `MessageContext`, nothing else.
#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup, attempt: u32) {
    let _ = (message, attempt);
}

fn main() {}
