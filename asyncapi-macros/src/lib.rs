//! Procedural macros; use them through `asyncapi-runtime`, which re-exports them.

use proc_macro::TokenStream;

#[proc_macro]
pub fn asyncapi(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

#[proc_macro_attribute]
pub fn event_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    item
}
