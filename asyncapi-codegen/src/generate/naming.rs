//! Rust names for document names.

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::Channel;
use crate::types::type_ident_text;

/// The marker type name of a channel.
pub fn channel_type_name(c: &Channel) -> String {
    type_ident_text(&c.id)
}

/// The constant a server becomes in the `servers` module.
pub fn server_const_name(name: &str) -> String {
    let s = name.to_shouty_snake_case();
    let s: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty()
        || s.starts_with(|c: char| c.is_ascii_digit())
        || s == "ALL"
        || s == "SECURITY_SCHEMES"
    {
        format!("SERVER_{s}")
    } else {
        s
    }
}

/// The constant of each server, in document order: names that collide once converted
/// (`prod-eu`, `prod_eu`) get `_2`, `_3`, ... (`validate` warns).
pub fn server_const_names(servers: &[crate::ir::Server]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    servers
        .iter()
        .map(|s| crate::types::unique_with(server_const_name(&s.name), "_", &mut taken))
        .collect()
}

pub(super) fn opt_str(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => quote! { ::std::option::Option::Some(#s) },
        None => quote! { ::std::option::Option::None },
    }
}
