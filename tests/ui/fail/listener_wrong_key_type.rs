mod traced {
    asyncapi_runtime::asyncapi!("ui/specs/traced.yaml");
}
use asyncapi_runtime::Key;
use traced::*;

// The channel's key is a string (its Kafka binding's `key` schema), not a number.
#[asyncapi_runtime::event_listener(channel = "orders", api = traced)]
async fn on_order(order: Order, key: Key<u64>) {
    let _ = (order, key);
}

fn main() {}
