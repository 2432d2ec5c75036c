//! Stage 5: IR + types to the token stream `asyncapi!` expands into, one module per
//! part of the expansion: messages, channels, sides, the listener lookup macro, and the
//! JSON Schema bundled for run-time validation.

mod bundle;
mod channels;
mod listener;
mod messages;
mod naming;
mod parameters;
mod requests;
mod sides;

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::Document;
use crate::resolve::Resolver;
use crate::schema::Schemas;
use crate::types::{doc_attrs, TypeSpace};

use naming::opt_str;
pub use naming::{
    channel_item_names, channel_type_name, request_method_names, server_const_name,
    server_const_names, ChannelItemNames,
};

pub struct Generator<'a> {
    pub rt: TokenStream,
    pub doc: &'a Document,
    /// The types of the expansion; its report takes this stage's warnings too.
    pub types: TypeSpace<'a>,
    /// Each channel's message type, as named at the top level of the expansion.
    pub channel_messages: Vec<TokenStream>,
    /// Each channel's typed key and headers, as named at the top level.
    pub channel_envelopes: Vec<Envelope>,
    /// The channels of several messages whose enum tells them apart by a tag property
    /// or a content type (not by trying each in turn, where an earlier message may
    /// take a record of a later one).
    pub distinct_messages: HashSet<usize>,
    /// Each channel's items' names in the `channels` module, in document order.
    pub channel_items: Vec<ChannelItemNames>,
}

/// A channel's typed record key and headers, when its messages declare them (`None`:
/// raw bytes and raw headers).
#[derive(Clone, Default)]
pub struct Envelope {
    pub key: Option<TokenStream>,
    pub headers: Option<TokenStream>,
}

impl Generator<'_> {
    /// The names of channel `c`'s items in the `channels` module (`c` is one of the
    /// document's channels; ids are unique).
    fn items_of(&self, c: &crate::ir::Channel) -> std::borrow::Cow<'_, ChannelItemNames> {
        let found = self.doc.channels.iter().zip(&self.channel_items);
        match found.into_iter().find(|(other, _)| other.id == c.id) {
            Some((_, items)) => std::borrow::Cow::Borrowed(items),
            // Not reached: named alone, as if it were the only channel.
            None => {
                std::borrow::Cow::Owned(channel_item_names(std::slice::from_ref(c)).swap_remove(0))
            }
        }
    }

    pub fn generate(mut self, r: &Resolver) -> TokenStream {
        let schemas = Schemas::new(r);
        let messages = self.messages(&schemas);
        let info = self.info();
        let servers = self.servers();
        let channel_items: Vec<TokenStream> = (0..self.doc.channels.len())
            .map(|i| self.channel(&schemas, i, &messages))
            .collect();
        let requests = self.request_impls();
        let sides = self.sides();
        let lookup = self.listener_lookup();
        let rt = &self.rt;
        let types = self.types.into_items();
        let contract = crate::CONTRACT_VERSION;
        quote! {
            const _: () = #rt::check_contract(#contract);
            #info
            #servers
            #(#types)*
            /// One marker type per channel of the document (implementing the runtime's `Channel`).
            pub mod channels {
                #(#channel_items)*
                #(#requests)*
            }
            #sides
            #lookup
        }
    }

    fn info(&self) -> TokenStream {
        let d = self.doc;
        let title = &d.title;
        let version = &d.version;
        let asyncapi = &d.asyncapi_version;
        let head = format!("{title} {version}");
        let doc = doc_attrs(&[Some(&head), d.description.as_deref()]);
        quote! {
            #doc
            pub const TITLE: &str = #title;
            /// The document's `info.version`.
            pub const VERSION: &str = #version;
            /// The AsyncAPI version the document is written in.
            pub const ASYNCAPI_VERSION: &str = #asyncapi;
        }
    }

    fn servers(&self) -> TokenStream {
        let rt = &self.rt;
        let mut consts = Vec::new();
        let mut names = Vec::new();
        let const_names = server_const_names(&self.doc.servers);
        for (s, const_name) in self.doc.servers.iter().zip(&const_names) {
            let ident = format_ident!("{}", const_name);
            let (name, url, protocol) = (&s.name, &s.url, &s.protocol);
            let pv = opt_str(&s.protocol_version);
            let desc = opt_str(&s.description);
            let vars = s.variables.iter().map(|v| {
                let (n, d, a, desc) = (&v.name, opt_str(&v.default), &v.allowed, opt_str(&v.description));
                quote! { #rt::ServerVariable { name: #n, default: #d, allowed: &[#(#a),*], description: #desc } }
            });
            let security = &s.security;
            let doc = doc_attrs(&[
                Some(&format!("Server `{name}`: `{url}` ({protocol})")),
                s.description.as_deref(),
            ]);
            consts.push(quote! {
                #doc
                pub const #ident: #rt::Server = #rt::Server {
                    name: #name, url: #url, protocol: #protocol, protocol_version: #pv, description: #desc,
                    variables: &[#(#vars),*], security: &[#(#security),*],
                };
            });
            names.push(ident);
        }
        let schemes = self.doc.security_schemes.iter().map(|s| {
            let (n, k, d) = (&s.name, &s.kind, opt_str(&s.description));
            quote! { #rt::SecurityScheme { name: #n, kind: #k, description: #d } }
        });
        quote! {
            /// The document's servers, and the security schemes they name.
            pub mod servers {
                #(#consts)*
                /// Every server, in document order.
                pub const ALL: &[#rt::Server] = &[#(#names),*];
                /// `components.securitySchemes`.
                pub const SECURITY_SCHEMES: &[#rt::SecurityScheme] = &[#(#schemes),*];
            }
        }
    }
}
