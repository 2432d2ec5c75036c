asyncapi_runtime::asyncapi!("ui/specs/version-1.yaml");

fn main() {}
