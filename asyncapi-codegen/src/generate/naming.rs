//! Rust names for document names.

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Channel, ParameterKind};
use crate::types::{field_ident_text, type_ident_text};

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
    if !s.contains(|c: char| c.is_ascii_alphanumeric()) {
        // Nothing of the name survives (`é`): `_` is not a constant.
        "SERVER".to_owned()
    } else if s.starts_with(|c: char| c.is_ascii_digit()) || s == "ALL" || s == "SECURITY_SCHEMES" {
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

/// The names a channel's items take in the `channels` module besides its marker type:
/// its parameters struct, the enums of its parameters that list their values, and its
/// hidden message check trait. A name another item of the module already took (the
/// enum of parameter `id` of channel `user` and the marker of channel `userId` are both
/// `UserId`) gets a numeric suffix; `validate` warns of those a user names.
#[derive(Debug, Clone)]
pub struct ChannelItemNames {
    /// `<Channel>Parameters` (as wanted, and as given).
    pub parameters: (String, String),
    /// Parameter name → its enum's name (as wanted, and as given).
    pub parameter_enums: Vec<(String, (String, String))>,
    /// `<Channel>CarriesMessage`.
    pub carries_message: String,
}

impl ChannelItemNames {
    /// The enum of parameter `name`, when it lists its values.
    pub fn parameter_enum(&self, name: &str) -> Option<&str> {
        let (_, (_, given)) = self.parameter_enums.iter().find(|(p, _)| p == name)?;
        Some(given)
    }
}

/// [`ChannelItemNames`] of every channel, in document order. Marker types are claimed
/// first: they are the channels' own names (`validate` refuses two alike).
pub fn channel_item_names(channels: &[Channel]) -> Vec<ChannelItemNames> {
    let mut taken: std::collections::HashSet<String> =
        channels.iter().map(channel_type_name).collect();
    let mut claim = |wanted: String| {
        let given = crate::types::unique(wanted.clone(), &mut taken);
        (wanted, given)
    };
    channels
        .iter()
        .map(|c| {
            let marker = channel_type_name(c);
            let parameters = claim(format!("{marker}Parameters"));
            let parameter_enums = c
                .parameters
                .iter()
                .filter(|p| p.kind == ParameterKind::String && !p.allowed.is_empty())
                .map(|p| {
                    let wanted = format!("{marker}{}", type_ident_text(&p.name));
                    (p.name.clone(), claim(wanted))
                })
                .collect();
            let carries_message = claim(format!("{marker}CarriesMessage")).1;
            ChannelItemNames {
                parameters,
                parameter_enums,
                carries_message,
            }
        })
        .collect()
}

/// `request_<channel>` and `request_<channel>_with` of each request channel (indices into
/// `channels`, in order). The first are the channels' own names; a `_with` method that
/// one of them already took (channels `x` and `xWith`) gets a numeric suffix.
pub fn request_method_names(channels: &[Channel], requests: &[usize]) -> Vec<(String, String)> {
    let plain: Vec<String> = requests
        .iter()
        .map(|&i| format!("request_{}", field_ident_text(&channels[i].id)))
        .collect();
    let mut taken: std::collections::HashSet<String> = plain.iter().cloned().collect();
    plain
        .into_iter()
        .map(|name| {
            let with = crate::types::unique_with(format!("{name}_with"), "_", &mut taken);
            (name, with)
        })
        .collect()
}
