asyncapi_runtime::asyncapi!("ui/specs/acount.yaml");

fn main() {}
