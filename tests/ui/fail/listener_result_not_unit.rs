mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup) -> Result<u32, String> {
    let _ = message;
    Ok(1)
}

fn main() {}
