asyncapi_runtime::asyncapi!("ui/specs");

fn main() {}
