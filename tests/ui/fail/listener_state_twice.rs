mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;
use asyncapi_runtime::Shared;

// A consumer holds one state value: two state parameters could never both be given.
#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup, users: Shared<u32>, names: Shared<String>) {
    let _ = (message, users, names);
}

fn main() {}
