asyncapi_runtime::asyncapi!("ui/specs/three-mistakes.yaml");

fn main() {}
