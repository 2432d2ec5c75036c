mod pricing {
    asyncapi_runtime::asyncapi!("ui/specs/pricing.yaml");
}
use pricing::*;

// The client sends quote requests: it cannot answer them.
#[allow(dead_code)]
fn answer(client: &Client) {
    let _ = client.consumer().reply::<channels::QuoteRequests>(
        |request: QuoteRequest, _context: asyncapi_runtime::MessageContext| async move {
            Ok::<_, std::convert::Infallible>(Quote {
                id: request.id,
                price: 1,
            })
        },
        asyncapi_runtime::ListenerOptions::default(),
    );
}

fn main() {}
