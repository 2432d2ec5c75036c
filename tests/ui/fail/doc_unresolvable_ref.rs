asyncapi_runtime::asyncapi!("ui/specs/unresolvable-ref.yaml");

fn main() {}
