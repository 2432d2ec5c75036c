asyncapi_runtime::asyncapi!();

fn main() {}
