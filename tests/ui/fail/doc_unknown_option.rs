asyncapi_runtime::asyncapi!("ui/specs/account.yaml", crate_path = "::asyncapi_runtime");

fn main() {}
