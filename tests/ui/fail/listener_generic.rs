mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup<M: std::fmt::Debug>(message: M) {
    let _ = message;
}

fn main() {}
