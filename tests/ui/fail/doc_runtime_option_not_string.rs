asyncapi_runtime::asyncapi!("ui/specs/account.yaml", runtime = asyncapi_runtime);

fn main() {}
