mod account {
    asyncapi_runtime::asyncapi!("ui/specs/account.yaml");
}
use account::*;
use asyncapi_runtime::Key;

// `Key<K>` says every record has a key, `Option<Key<K>>` that some may not: one of them.
#[asyncapi_runtime::event_listener(channel = "user/signup")]
async fn on_signup(message: UserSignup, key: Key<Vec<u8>>, maybe: Option<Key<Vec<u8>>>) {
    let _ = (message, key, maybe);
}

fn main() {}
