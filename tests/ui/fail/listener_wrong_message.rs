mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// `user/signup` carries `UserSignup`, not `AccountCreated`.
#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: AccountCreated) {
    let _ = message;
}

fn main() {}
