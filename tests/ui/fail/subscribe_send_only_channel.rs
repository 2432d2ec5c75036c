mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The application only sends on `account/created`: it cannot subscribe to it.
#[allow(dead_code)]
fn subscribe(app: &Application) {
    let mut consumer = app.consumer();
    let _ = consumer.subscribe::<channels::AccountCreated>();
}

fn main() {}
