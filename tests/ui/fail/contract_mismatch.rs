const _: () = asyncapi_runtime::__private::check_contract(0);

fn main() {}
