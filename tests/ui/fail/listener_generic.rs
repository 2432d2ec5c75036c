mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
#[allow(unused_imports)] // this case never gets to use the document
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup<M: std::fmt::Debug>(message: M) {
    let _ = message;
}

fn main() {}
