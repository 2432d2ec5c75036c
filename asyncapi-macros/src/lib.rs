//! Procedural macros; use them through `asyncapi-runtime`, which re-exports them.
//! The document-to-code logic lives in `asyncapi-codegen`; this crate only parses macro
//! input and turns diagnostics into compile errors.

#![warn(missing_docs)]

mod document;
mod listener;
mod timings;

use proc_macro::TokenStream;

/// Expands an AsyncAPI 2.x/3.x document (path relative to the crate's `Cargo.toml`) into
/// message types, channel descriptors and typed clients.
///
/// ```ignore
/// asyncapi_runtime::asyncapi!("specs/account-service.yaml");
/// ```
#[proc_macro]
pub fn asyncapi(input: TokenStream) -> TokenStream {
    let mut timings = timings::Timings::start();
    let tokens: TokenStream = document::expand(input.into(), timings.as_mut()).into();
    if let Some(mut t) = timings {
        t.phase("handing tokens to rustc");
        t.finish();
    }
    tokens
}

/// Marks an async fn as the handler of a channel of a document expanded by `asyncapi!`
/// in scope; the compiler checks the channel and the message type.
#[proc_macro_attribute]
pub fn event_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    listener::expand(args.into(), item.into()).into()
}
