asyncapi_runtime::asyncapi!("ui/specs/ref-cycle.yaml");

fn main() {}
