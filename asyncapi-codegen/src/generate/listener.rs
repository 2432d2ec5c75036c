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
        let mut arms = Vec::new();
        for (side, mirrored) in [("Application", false), ("Client", true)] {
            arms.extend(self.side_listener_arms(side, mirrored));
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

    /// The arms for listeners of `side`: one per channel it receives from (by id, and by
    /// address where that is another key), then a refusal for each channel it only
    /// sends on or reads replies on, then one for any other name.
    fn side_listener_arms(&self, side: &str, mirrored: bool) -> Vec<TokenStream> {
        let (receives, sends) = self.listened_channels(mirrored);
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
        // A listener returning a reply (`reply_listener`) only fits a request channel;
        // these arms come first, before the receive arms that take either kind.
        let requests: Vec<usize> = self
            .request_operations()
            .iter()
            .map(|(op, _)| op.channel)
            .collect();
        let mut arms = Vec::new();
        for &i in receives.iter().filter(|i| !requests.contains(i)) {
            let c = &self.doc.channels[i];
            let msg = format!("channel `{}` has no `reply`: a listener of it returns `()` or `Result<(), E>`, not a reply", c.id);
            let help = "a listener returns `Result<Reply, E>` only on a channel whose operation declares `reply`";
            for k in self.channel_keys(i) {
                arms.push(self.refusal_arm(
                    quote! { reply_listener },
                    side,
                    quote! { #k },
                    &msg,
                    help,
                ));
            }
        }
        arms.extend(receives.iter().flat_map(|&i| self.receive_arms(side, i)));
        let other_side = if mirrored { "Application" } else { "Client" };
        for &i in sends.iter().filter(|i| !receives.contains(i)) {
            let k = &self.doc.channels[i].id;
            let msg = format!("`{side}` only sends on channel `{k}`, so it cannot listen to it; channels `{side}` receives from: {valid}");
            let help = format!("to handle what `{side}` sends, write a listener for the other side: `side = {other_side}`");
            arms.push(self.refusal_arm(quote! { $kind:ident }, side, quote! { #k }, &msg, &help));
        }
        for (op, reply) in self.request_operations() {
            let requesting = (op.action == Action::Send) != mirrored;
            let r = &self.doc.channels[reply.channel];
            if !requesting || receives.contains(&reply.channel) || sends.contains(&reply.channel) {
                continue;
            }
            let k = &r.id;
            let msg = format!("channel `{k}` carries the replies to `{side}`'s requests on `{}`: its requester reads them, a listener cannot", self.doc.channels[op.channel].id);
            let help = format!(
                "send the request with `request_{}` and await its reply",
                crate::types::field_ident_text(&self.doc.channels[op.channel].id)
            );
            arms.push(self.refusal_arm(quote! { $kind:ident }, side, quote! { #k }, &msg, &help));
        }
        let unknown = format!("unknown channel `{{channel}}`: no channel of this document is named so; channels `{side}` receives from: {valid}");
        let help = "channel names are the keys of `channels` in the document (or, in AsyncAPI 3, their `address`)";
        arms.push(self.refusal_arm(
            quote! { $kind:ident },
            side,
            quote! { $other:literal },
            &unknown,
            help,
        ));
        arms
    }

    /// The channels `side` receives from and sends on through its operations.
    fn listened_channels(&self, mirrored: bool) -> (Vec<usize>, Vec<usize>) {
        let mut receives = Vec::new();
        let mut sends = Vec::new();
        for op in &self.doc.operations {
            if self.doc.channels[op.channel].topic.is_err() {
                continue;
            }
            let sending = (op.action == Action::Send) != mirrored;
            let list = if sending { &mut sends } else { &mut receives };
            if !list.contains(&op.channel) {
                list.push(op.channel);
            }
        }
        (receives, sends)
    }

    /// The arms completing a listener of channel `i`: its `impl Listener` with the
    /// channel's marker type, and the message conversion that checks the parameter.
    fn receive_arms(&self, side: &str, i: usize) -> Vec<TokenStream> {
        let rt = &self.rt;
        let side_ident = format_ident!("{}", side);
        let (input, path, name, ty) = lookup_pieces();
        let c = &self.doc.channels[i];
        let ch = format_ident!("{}", channel_type_name(c));
        let check = format_ident!("{}", self.items_of(c).carries_message);
        self.channel_keys(i)
            .into_iter()
            .map(|k| {
                quote! {
                    ($kind:ident #side_ident #k #input { $($head:tt)* } { $($body:tt)* }) => {
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
                }
            })
            .collect()
    }

    /// The names a listener may give channel `i` by: its id, and its address where no
    /// other channel has that id.
    fn channel_keys(&self, i: usize) -> Vec<String> {
        let c = &self.doc.channels[i];
        let mut keys = vec![c.id.clone()];
        if let Some(a) = &c.address {
            if a != &c.id && !self.doc.channels.iter().any(|o| &o.id == a) {
                keys.push(a.clone());
            }
        }
        keys
    }

    /// An arm that emits no impl, only an error at the user's channel string, through
    /// `#[event_listener(__channel_error(..))]` (a `compile_error!` written here would
    /// point at `asyncapi!`).
    fn refusal_arm(
        &self,
        kind: TokenStream,
        side: &str,
        key: TokenStream,
        msg: &str,
        help: &str,
    ) -> TokenStream {
        let rt = &self.rt;
        let side_ident = format_ident!("{}", side);
        let (input, ..) = lookup_pieces();
        let channel = quote! { $channel };
        quote! {
            (#kind #side_ident #key #input $($rest:tt)*) => {
                #[#rt::event_listener(__channel_error(#channel, #msg, #help))]
                const _: () = ();
            };
        }
    }
}

/// The macro input every arm matches after the side and channel (the path to the
/// document's module, the listener's name, its message type and the channel string),
/// and the fragments that use them.
fn lookup_pieces() -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    (
        quote! { [$($path:tt)*] $name:ident ($ty:ty) ($channel:literal) },
        quote! { $($path)* },
        quote! { $name },
        quote! { $ty },
    )
}
