// The client side of the seed document listens to what the Application sends.
mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}

use account::*;

#[asyncapi_runtime::event_listener(channel = "account/created", side = Client)]
async fn on_created(message: AccountCreated) {
    let _ = message;
}

#[allow(dead_code)]
fn register(client: &Client) -> asyncapi_runtime::Consumer<Client> {
    client.consumer().listen::<on_created>()
}

fn main() {}
