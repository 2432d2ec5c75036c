mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup", max_attempts = "3")]
async fn on_signup(message: UserSignup) {
    let _ = message;
}

fn main() {}
