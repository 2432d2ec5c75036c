mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;

// The client only sends on `user/signup`: it cannot route records of it to a handler.
#[allow(dead_code)]
fn route(client: &Client) {
    let _ = client.consumer().route::<channels::UserSignup, _>(
        |_signup: UserSignup, _context: asyncapi_runtime::MessageContext| async {
            Ok::<(), std::io::Error>(())
        },
        asyncapi_runtime::ListenerOptions::default(),
    );
}

fn main() {}
