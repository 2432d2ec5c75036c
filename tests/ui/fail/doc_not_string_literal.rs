const SPEC: &str = "ui/specs/account.yaml";

asyncapi_runtime::asyncapi!(SPEC);

fn main() {}
