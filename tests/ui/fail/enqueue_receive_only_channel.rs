mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The client receives from `account/created`: its producer cannot enqueue there.
#[allow(dead_code)]
async fn enqueue(client: &Client, created: &AccountCreated) {
    let _ = client
        .producer()
        .enqueue::<channels::AccountCreated>(asyncapi_runtime::Outgoing::new(created))
        .await;
}

fn main() {}
