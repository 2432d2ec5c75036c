// A macro call is not a string literal either: `asyncapi!` sees tokens, not values.
asyncapi_runtime::asyncapi!(concat!("ui/specs/", "account.yaml"));

fn main() {}
