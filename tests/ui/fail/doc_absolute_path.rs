asyncapi_runtime::asyncapi!("/home/me/project/specs/account.yaml");

fn main() {}
