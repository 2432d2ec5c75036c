asyncapi_runtime::asyncapi!("fixtures/specs/payment-gateway-remote-ref.yaml");

fn main() {}
