asyncapi_runtime::asyncapi!("ui/specs/bad-topic.yaml");

fn main() {}
