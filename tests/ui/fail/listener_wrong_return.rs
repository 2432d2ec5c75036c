mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup) -> bool {
    message.email.is_some()
}

fn main() {}
