mod traced {
    asyncapi_runtime::asyncapi!("ui/specs/traced.yaml");
}
use traced::*;

// The document requires the `correlation-id` header: it cannot be left out.
#[allow(dead_code)]
async fn send(client: &Client) {
    let headers = OrderHeaders { attempt: Some(1) };
    let _ = client
        .send_orders(&"k".to_owned(), &headers, &Order { id: "o".into() })
        .await;
}

fn main() {}
