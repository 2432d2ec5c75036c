//! The `__asyncapi_listener!` lookup macro `#[event_listener]` expands through.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::naming::channel_type_name;
use super::Generator;
use crate::ir::Action;

impl Generator<'_> {
    /// A `macro_rules!` that `#[event_listener]` expands into. For a channel the side
    /// receives from, it completes the listener's `impl Listener` with the channel's marker
    /// type and converts the message to the handler's parameter type through the channel's
    /// `...CarriesMessage` trait (a wrong type fails there, at the parameter, and only
    /// there). For an unknown or send-only channel it emits no impl, only an error, through
    /// `#[event_listener(__channel_error(..))]` so that the error points at the user's
    /// channel string (a `compile_error!` written here would point at `asyncapi!`).
    pub(super) fn listener_lookup(&self) -> TokenStream {
        let rt = &self.rt;
        // Pieces every arm repeats, built once: quote lexes each `$` it meets.
        let input = quote! { [$($path:tt)*] $name:ident ($ty:ty) ($channel:literal) };
        let rest = quote! { $($rest:tt)* };
        let (path, name, ty, channel) = (
            quote! { $($path)* },
            quote! { $name },
            quote! { $ty },
            quote! { $channel },
        );
        let mut arms = Vec::new();
        for (side, mirrored) in [("Application", false), ("Client", true)] {
            let side_ident = format_ident!("{}", side);
            let mut receives = Vec::new();
            let mut sends = Vec::new();
            for op in &self.doc.operations {
                let c = &self.doc.channels[op.channel];
                if c.topic.is_err() {
                    continue;
                }
                let sending = (op.action == Action::Send) != mirrored;
                let list = if sending { &mut sends } else { &mut receives };
                if !list.contains(&op.channel) {
                    list.push(op.channel);
                }
            }
            let valid = receives
                .iter()
                .map(|&i| format!("`{}`", self.doc.channels[i].id))
                .collect::<Vec<_>>()
                .join(", ");
            let valid = if valid.is_empty() {
                "none".to_owned()
            } else {
                valid
            };
            for &i in &receives {
                let c = &self.doc.channels[i];
                let ch = format_ident!("{}", channel_type_name(c));
                let check = format_ident!("{}CarriesMessage", channel_type_name(c));
                let mut keys = vec![c.id.clone()];
                if let Some(a) = &c.address {
                    if a != &c.id && !self.doc.channels.iter().any(|o| &o.id == a) {
                        keys.push(a.clone());
                    }
                }
                for k in keys {
                    arms.push(quote! {
                        (listener #side_ident #k #input { $($head:tt)* } { $($body:tt)* }) => {
                            impl #name {
                                #[doc(hidden)]
                                fn __asyncapi_message(message: <#path channels::#ch as #rt::Channel>::Message) -> #ty {
                                    <#ty as #path channels::#check>::__from_message(message)
                                }
                            }
                            $($head)* {
                                type Channel = #path channels::#ch;
                                $($body)*
                            }
                        };
                    });
                }
            }
            for &i in &sends {
                if receives.contains(&i) {
                    continue;
                }
                let c = &self.doc.channels[i];
                let k = &c.id;
                let msg = format!("`{side}` only sends on channel `{k}`, so it cannot listen to it; channels `{side}` receives from: {valid}");
                let help = format!("to handle what `{side}` sends, write a listener for the other side: `side = {}`", if mirrored { "Application" } else { "Client" });
                arms.push(quote! {
                    (listener #side_ident #k #input #rest) => {
                        #[#rt::event_listener(__channel_error(#channel, #msg, #help))]
                        const _: () = ();
                    };
                });
            }
            let unknown = format!("unknown channel `{{channel}}`: no channel of this document is named so; channels `{side}` receives from: {valid}");
            let help = "channel names are the keys of `channels` in the document (or, in AsyncAPI 3, their `address`)";
            arms.push(quote! {
                (listener #side_ident $other:literal #input #rest) => {
                    #[#rt::event_listener(__channel_error(#channel, #unknown, #help))]
                    const _: () = ();
                };
            });
        }
        quote! {
            #[doc(hidden)]
            #[allow(unused_macros)]
            macro_rules! __asyncapi_listener {
                #(#arms)*
            }
            #[doc(hidden)]
            #[allow(unused_imports)]
            pub(crate) use __asyncapi_listener;
        }
    }
}
