asyncapi_runtime::asyncapi!("ui/specs/not-json.json");

fn main() {}
