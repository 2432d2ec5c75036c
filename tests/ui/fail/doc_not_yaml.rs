asyncapi_runtime::asyncapi!("ui/specs/not-yaml.yaml");

fn main() {}
