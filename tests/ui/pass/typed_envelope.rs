// A listener takes the channel's typed key and headers as parameters, in any order
// after the message, beside its context and the consumer's state.
mod traced {
    asyncapi_runtime::asyncapi!("ui/specs/traced.yaml");
}

use asyncapi_runtime::{Headers, Key, MessageContext, Shared};
use traced::*;

struct Seen;

#[asyncapi_runtime::event_listener(channel = "orders", api = traced)]
async fn every_parameter(
    order: Order,
    key: Key<String>,
    seen: Shared<Seen>,
    headers: Headers<OrderHeaders>,
    context: MessageContext,
) {
    let _ = (
        order,
        key.len(),
        seen,
        headers.correlation_id.as_str(),
        context,
    );
}

#[asyncapi_runtime::event_listener(channel = "orders", api = traced)]
async fn maybe_keyed(order: Order, key: Option<Key<String>>) {
    let _ = (order, key.map(|Key(key)| key));
}

#[allow(dead_code)]
fn register(app: &Application) -> asyncapi_runtime::Consumer<Application> {
    app.consumer()
        .with_state(Seen)
        .listen::<every_parameter>()
        .listen::<maybe_keyed>()
}

fn main() {}
