asyncapi_runtime::asyncapi!("ui/specs/openapi.yaml");

fn main() {}
