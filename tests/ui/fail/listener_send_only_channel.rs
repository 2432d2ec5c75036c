mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// `account/created` is a channel the Application sends on, not one it receives from.
#[asyncapi_runtime::event_listener(channel = "account/created")]
async fn on_created(message: AccountCreated) {
    let _ = message;
}

fn main() {}
