asyncapi_runtime::asyncapi!("ui/specs/xml-content-type.yaml");

fn main() {}
