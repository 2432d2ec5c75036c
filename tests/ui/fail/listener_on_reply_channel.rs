mod pricing {
    asyncapi_runtime::asyncapi!("ui/specs/pricing.yaml");
}
use pricing::*;

// The client's requester reads the replies on `quotes`: a listener cannot take them.
#[asyncapi_runtime::event_listener(channel = "quotes", side = Client)]
async fn on_quote(quote: Quote) {
    let _ = quote;
}

fn main() {}
