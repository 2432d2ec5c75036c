mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// `on_created` is a Client listener: an Application consumer cannot register it.
#[asyncapi_runtime::event_listener(channel = "account/created", side = Client)]
async fn on_created(message: AccountCreated) {
    let _ = message;
}

#[allow(dead_code)]
fn register(app: &Application) {
    let _ = app.consumer().listen::<on_created>();
}

fn main() {}
