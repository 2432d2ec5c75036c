asyncapi_runtime::asyncapi!("ui/specs/channel-collision.yaml");

fn main() {}
