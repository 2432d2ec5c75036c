mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The error of a handler must be `Display`: it is logged and recorded in the dead-letter headers.
struct Oops;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup) -> Result<(), Oops> {
    let _ = message;
    Err(Oops)
}

fn main() {}
