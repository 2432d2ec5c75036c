//! One marker type per channel, with its parameters and carried messages.

use std::borrow::Cow;
use std::collections::HashSet;

use asyncapi_syntax::address::placeholders;
use asyncapi_syntax::media_type;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::bundle::{bundle_any_of, bundle_schema};
use super::messages::{Codec, MessageCode};
use super::naming::{channel_type_name, opt_str};
use super::{Envelope, Generator};
use crate::exact::type_enforces_schema;
use crate::ir::{Channel, Message, PayloadFormat};
use crate::resolve::NodeId;
use crate::schema::{tag_property, Schemas};
use crate::types::doc_attrs;

/// How a channel's enum of messages decodes a record.
struct EnumDecoding {
    /// The doc line saying how.
    doc: String,
    /// The body of `Message::decode`.
    body: TokenStream,
    /// Whether the record's `content-type` header picks the message.
    by_content_type: bool,
}

/// How a record's `content-type` picks a message: by media type (parameters and case
/// aside), or as written when the messages differ only in a parameter.
#[derive(Clone, Copy)]
enum ContentTypeMatch {
    MediaType,
    Exact,
}

/// One message of a multi-message channel: its enum variant, its code, its IR.
type Variant<'m> = (proc_macro2::Ident, &'m MessageCode, &'m Message);

impl Generator<'_> {
    /// The marker type of channel `i`, its parameters, and its message enum.
    pub(super) fn channel(
        &mut self,
        schemas: &Schemas<'_>,
        i: usize,
        messages: &[MessageCode],
    ) -> TokenStream {
        let rt = self.rt.clone();
        let c: &Channel = &self.doc.channels[i];
        let ident = format_ident!("{}", channel_type_name(c));
        let id = &c.id;
        let address = c.address.clone().unwrap_or_default();
        let topic = match &c.topic {
            Ok(t) => t.clone(),
            Err(_) => String::new(),
        };
        let top_level = self.channel_message_type(schemas, i, messages);
        let message_ty = if c.messages.is_empty() {
            top_level.clone()
        } else {
            quote! { super::#top_level }
        };
        self.channel_messages.push(top_level);
        let (headers_ty, key_ty, envelope) = self.channel_headers_and_key(c, messages);
        self.channel_envelopes.push(envelope);
        let (params_ty, params_item) = self.parameters(c);
        let names = placeholders(&topic);
        let (group, client) = self.channel_ids(i);
        let (schema, type_enforces_schema) = self.channel_schema(schemas, c, messages);
        let topic_doc = match &c.topic {
            _ if self.doc.topic_named_by_requesters(i) => " No topic of its own (the address is null): each requester names the topic its replies come to.".to_owned(),
            Ok(t) => format!(" Kafka topic `{t}`, {}.", c.topic_note),
            Err(why) => format!(" No Kafka topic: {why}. This channel has no client."),
        };
        let head = format!("Channel `{id}`.");
        let doc = doc_attrs(&[
            Some(&head),
            c.title.as_deref(),
            c.summary.as_deref(),
            c.description.as_deref(),
        ]);
        let carries = self.carries_message(c, messages, &message_ty);
        quote! {
            #doc
            #[doc = ""]
            #[doc = #topic_doc]
            #[derive(Debug, Clone, Copy, Default)]
            pub struct #ident;

            impl #rt::Channel for #ident {
                const ID: &'static str = #id;
                const ADDRESS: &'static str = #address;
                const TOPIC: &'static str = #topic;
                const PARAMETER_NAMES: &'static [&'static str] = &[#(#names),*];
                const GROUP_ID: ::std::option::Option<&'static str> = #group;
                const CLIENT_ID: ::std::option::Option<&'static str> = #client;
                const PAYLOAD_SCHEMA: ::std::option::Option<&'static str> = #schema;
                const PAYLOAD_TYPE_ENFORCES_SCHEMA: bool = #type_enforces_schema;
                type Message = #message_ty;
                type Parameters = #params_ty;
                type Key = #key_ty;
                type Headers = #headers_ty;
            }

            #params_item

            #carries
        }
    }

    /// The hidden `<Channel>CarriesMessage` trait, implemented by the channel's message
    /// type only: a listener whose first parameter is another type fails on it, with
    /// one error that names the channel's message.
    fn carries_message(
        &self,
        c: &Channel,
        messages: &[MessageCode],
        message_ty: &TokenStream,
    ) -> TokenStream {
        let id = &c.id;
        let carried = format!("channel `{id}` carries {}", self.carried_list(c, messages));
        let check_trait = format_ident!("{}", self.items_of(c).carries_message);
        let on_unimpl_msg = format!("`{{Self}}` is not a message of channel `{id}`");
        let on_unimpl_note = format!("{carried}; the handler's first parameter must be that type");
        quote! {
            #[doc(hidden)]
            #[diagnostic::on_unimplemented(message = #on_unimpl_msg, label = "not a message of this channel", note = #on_unimpl_note)]
            pub trait #check_trait: ::std::marker::Sized {
                /// The identity: a listener converts the channel's message to its handler's
                /// parameter type through it, so a wrong type fails here (one error, with the
                /// message above) and nowhere else.
                fn __from_message(message: #message_ty) -> Self;
            }
            impl #check_trait for #message_ty { fn __from_message(message: #message_ty) -> Self { message } }
        }
    }

    /// The channel's message type as named at the top level: the one message, an enum
    /// of them (pushed here), or any JSON value when it declares none.
    fn channel_message_type(
        &mut self,
        schemas: &Schemas<'_>,
        index: usize,
        messages: &[MessageCode],
    ) -> TokenStream {
        let c: &Channel = &self.doc.channels[index];
        let rt = &self.rt;
        let p = rt.clone();
        match c.messages.as_slice() {
            [] => quote! { #p::serde_json::Value },
            [one] => messages[*one].ty.clone(),
            many => {
                let enum_name = self
                    .types
                    .claim_name(&format!("{}Message", channel_type_name(c)));
                let eident = format_ident!("{}", enum_name);
                self.channel_enum(schemas, index, &eident, many, messages);
                quote! { #eident }
            }
        }
    }

    /// The channel's header and key types: typed only when every message of the
    /// channel agrees on them.
    fn channel_headers_and_key(
        &self,
        c: &Channel,
        messages: &[MessageCode],
    ) -> (TokenStream, TokenStream, Envelope) {
        let rt = &self.rt;
        let agree = |f: &dyn Fn(&MessageCode) -> Option<String>| -> Option<String> {
            let set: HashSet<Option<String>> =
                c.messages.iter().map(|&m| f(&messages[m])).collect();
            if set.len() == 1 {
                set.into_iter().next().flatten()
            } else {
                None
            }
        };
        let headers = agree(&|m| m.headers.as_ref().and_then(|h| h.nominal.clone()))
            .map(|n| format_ident!("{}", n));
        let key = agree(&|m| m.key.as_ref().map(|k| k.tokens.to_string()))
            .and_then(|k| k.parse::<TokenStream>().ok());
        let headers_ty = match &headers {
            Some(n) => quote! { super::#n },
            None => quote! { #rt::RawHeaders },
        };
        let key_ty = match &key {
            Some(k) if k.to_string().starts_with("::") => k.clone(),
            Some(k) => quote! { super::#k },
            None => quote! { ::std::vec::Vec<u8> },
        };
        let envelope = Envelope {
            key,
            headers: headers.map(|n| quote! { #n }),
        };
        (headers_ty, key_ty, envelope)
    }

    /// The `groupId` and `clientId` bindings of the operations on channel `i`.
    fn channel_ids(&self, i: usize) -> (TokenStream, TokenStream) {
        let on_channel = || self.doc.operations.iter().filter(move |o| o.channel == i);
        let group = on_channel().find_map(|o| o.group_id.clone());
        let client = on_channel().find_map(|o| o.client_id.clone());
        (opt_str(&group), opt_str(&client))
    }

    /// The payload schema bundled for run-time validation (single-message channels
    /// with a JSON Schema payload), and whether the generated type already enforces it.
    fn channel_schema(
        &self,
        schemas: &Schemas<'_>,
        c: &Channel,
        messages: &[MessageCode],
    ) -> (TokenStream, bool) {
        let single = match c.messages.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let payloads: Option<Vec<NodeId>> = c
            .messages
            .iter()
            .map(|&m| &self.doc.messages[m])
            .map(|m| match (&m.payload_format, &m.payload) {
                (PayloadFormat::JsonSchema, Some(id)) => Some(id.clone()),
                _ => None,
            })
            .collect();
        // Only payloads decoded as JSON are validated as JSON: text and bytes are not
        // JSON documents (validating them would dead-letter every record).
        let all_json = c.messages.iter().all(|&m| messages[m].codec == Codec::Json);
        let bundled = match payloads.as_deref().filter(|_| all_json) {
            Some([one]) => bundle_schema(schemas.resolver(), one),
            // Several messages: a record must match one of their payload schemas.
            Some(many) if many.len() > 1 => bundle_any_of(schemas.resolver(), many),
            _ => None,
        };
        // Text and byte payloads are not decoded as JSON: their type says nothing.
        let decoded_as_json = single.is_some_and(|m| messages[m].codec == Codec::Json);
        let type_enforces_schema = bundled.is_some()
            && decoded_as_json
            && payloads
                .as_deref()
                .is_some_and(|ids| ids.len() == 1 && type_enforces_schema(schemas, &ids[0]));
        let schema = match bundled {
            Some(s) => quote! { ::std::option::Option::Some(#s) },
            None => quote! { ::std::option::Option::None },
        };
        (schema, type_enforces_schema)
    }

    pub(super) fn carried_list(&self, c: &Channel, messages: &[MessageCode]) -> String {
        match c.messages.as_slice() {
            [] => "any JSON value (`serde_json::Value`)".to_owned(),
            [one] => format!("`{}`", messages[*one].ty_name),
            _ => format!(
                "`{}Message` (one of {})",
                channel_type_name(c),
                c.messages
                    .iter()
                    .map(|&m| format!("`{}`", messages[m].ty_name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub(super) fn channel_enum(
        &mut self,
        schemas: &Schemas<'_>,
        channel: usize,
        eident: &proc_macro2::Ident,
        many: &[usize],
        messages: &[MessageCode],
    ) {
        let rt = self.rt.clone();
        let c: &Channel = &self.doc.channels[channel];
        let variants: Vec<Variant<'_>> = many
            .iter()
            .map(|&m| {
                (
                    format_ident!("{}", messages[m].ty_name),
                    &messages[m],
                    &self.doc.messages[m],
                )
            })
            .collect();
        let decls = variants.iter().map(|(v, mc, m)| {
            let t = &mc.ty;
            let d = format!(" Message `{}`.", m.name);
            quote! { #[doc = #d] #v(#t), }
        });
        let name_arms = variants.iter().map(|(v, _, m)| {
            let name = &m.name;
            quote! { Self::#v(_) => #name, }
        });
        let ct_arms = variants
            .iter()
            .map(|(v, _, _)| quote! { Self::#v(m) => #rt::Message::content_type(m), });
        let enc_arms = variants
            .iter()
            .map(|(v, _, _)| quote! { Self::#v(m) => #rt::Message::encode(m), });
        let mut seen = HashSet::new();
        let froms = variants.iter().filter(|(_, mc, _)| seen.insert(mc.ty_name.clone())).map(|(v, mc, _)| {
            let t = &mc.ty;
            quote! { impl ::std::convert::From<#t> for #eident { fn from(m: #t) -> Self { Self::#v(m) } } }
        });
        let decoding = self.enum_decoding(schemas, channel, eident, many, &variants);
        let (strategy, decode) = (&decoding.doc, &decoding.body);
        // Variants decode with the enum's `content_type`: any of them may read it too.
        let dispatches = decoding.by_content_type;
        let variant_types = variants.iter().map(|(_, mc, _)| &mc.ty);
        let reads_content_type =
            quote! { #dispatches #(|| <#variant_types as #rt::Message>::READS_CONTENT_TYPE)* };
        let head = format!(" The messages of channel `{}`.", c.id);
        let name = format!("{}Message", channel_type_name(c));
        let first_ct = variants
            .first()
            .map(|(_, _, m)| m.content_type.clone())
            .unwrap_or_default();
        self.types.push_item(quote! {
            #[doc = #head]
            #[doc = ""]
            #[doc = #strategy]
            #[derive(Debug, Clone, PartialEq)]
            pub enum #eident { #(#decls)* }

            impl #rt::Message for #eident {
                const NAME: &'static str = #name;
                const CONTENT_TYPE: &'static str = #first_ct;
                const READS_CONTENT_TYPE: bool = #reads_content_type;
                fn name(&self) -> &'static str { match self { #(#name_arms)* } }
                fn content_type(&self) -> &'static str { match self { #(#ct_arms)* } }
                fn encode(&self) -> ::std::result::Result<::std::vec::Vec<u8>, #rt::EncodeError> { match self { #(#enc_arms)* } }
                fn decode(bytes: &[u8], content_type: ::std::option::Option<&str>) -> ::std::result::Result<Self, #rt::DecodeError> { #decode }
            }
            #(#froms)*
        });
    }

    /// How the channel's enum decodes a record: by a property every message pins to
    /// its own constant, else by the record's content type when the messages' differ,
    /// else as the first message that decodes.
    fn enum_decoding(
        &mut self,
        schemas: &Schemas<'_>,
        channel: usize,
        eident: &proc_macro2::Ident,
        many: &[usize],
        variants: &[Variant<'_>],
    ) -> EnumDecoding {
        // A message without a payload schema pins no tag: then nothing does.
        let payloads: Option<Vec<_>> = many
            .iter()
            .map(|&m| {
                let payload = schemas.at(self.doc.messages[m].payload.as_ref()?);
                schemas.resolved(&payload).ok()
            })
            .collect();
        let tag = payloads.as_deref().and_then(tag_property);
        let media_types: HashSet<Cow<'_, str>> = variants
            .iter()
            .map(|(_, _, m)| media_type(&m.content_type))
            .collect();
        let content_types: HashSet<&str> = variants
            .iter()
            .map(|(_, _, m)| m.content_type.as_str())
            .collect();
        if let Some((prop, tags)) = tag {
            self.distinct_messages.insert(channel);
            self.decode_by_tag(eident, variants, prop, &tags)
        } else if media_types.len() == variants.len() {
            self.distinct_messages.insert(channel);
            self.decode_by_content_type(variants, ContentTypeMatch::MediaType)
        } else if content_types.len() == variants.len() {
            // Told apart by a parameter only (`version=1`, `version=2`): the whole text.
            self.distinct_messages.insert(channel);
            self.decode_by_content_type(variants, ContentTypeMatch::Exact)
        } else {
            self.decode_first_match(variants)
        }
    }

    fn decode_by_tag(
        &self,
        eident: &proc_macro2::Ident,
        variants: &[Variant<'_>],
        prop: &str,
        tags: &[&str],
    ) -> EnumDecoding {
        let rt = &self.rt;
        let p = rt.clone();
        let arms = variants.iter().zip(tags).map(|((v, mc, _), tag)| {
            let t = &mc.ty;
            quote! { ::std::option::Option::Some(#tag) => <#t as #rt::Message>::decode(bytes, content_type).map(Self::#v), }
        });
        let expected = tags
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let err = format!("`{prop}` must be one of {expected}");
        EnumDecoding {
            doc: format!(
                " Decoded by the `{prop}` property, which each message pins to its own value."
            ),
            body: quote! {
                let probe: #p::serde_json::Value = #rt::codec::decode_json(bytes, #eident::NAME)?;
                match probe.get(#prop).and_then(#p::serde_json::Value::as_str) {
                    #(#arms)*
                    _ => ::std::result::Result::Err(#rt::DecodeError::NoMatchingMessage(::std::string::String::from(#err))),
                }
            },
            by_content_type: false,
        }
    }

    fn decode_by_content_type(
        &self,
        variants: &[Variant<'_>],
        how: ContentTypeMatch,
    ) -> EnumDecoding {
        let rt = &self.rt;
        let arms = variants.iter().map(|(v, mc, m)| {
            let t = &mc.ty;
            let ct = match how {
                ContentTypeMatch::MediaType => media_type(&m.content_type),
                ContentTypeMatch::Exact => Cow::Borrowed(m.content_type.as_str()),
            };
            let ct = ct.as_ref();
            quote! { ::std::option::Option::Some(#ct) => <#t as #rt::Message>::decode(bytes, content_type).map(Self::#v), }
        });
        let (doc, compared) = match how {
            ContentTypeMatch::MediaType => (
                " Decoded by the record's `content-type` header (its media type: parameters and case aside): each message has its own content type.",
                quote! { content_type.map(#rt::codec::media_type).as_deref() },
            ),
            ContentTypeMatch::Exact => (
                " Decoded by the record's `content-type` header, as written: the messages' content types differ only in their parameters.",
                quote! { content_type },
            ),
        };
        EnumDecoding {
            doc: doc.to_owned(),
            body: quote! {
                match #compared {
                    #(#arms)*
                    other => ::std::result::Result::Err(#rt::DecodeError::content_type(other)),
                }
            },
            by_content_type: true,
        }
    }

    fn decode_first_match(&self, variants: &[Variant<'_>]) -> EnumDecoding {
        let rt = &self.rt;
        let tries = variants.iter().map(|(v, mc, _)| {
            let t = &mc.ty;
            quote! {
                match <#t as #rt::Message>::decode(bytes, content_type) {
                    ::std::result::Result::Ok(m) => return ::std::result::Result::Ok(Self::#v(m)),
                    ::std::result::Result::Err(e) => errors.push(::std::string::ToString::to_string(&e)),
                }
            }
        });
        EnumDecoding {
            doc: " Decoded as the first message (in document order) the payload matches: the document gives no discriminator, constant tag or distinct content type.".to_owned(),
            body: quote! {
                let mut errors: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
                #(#tries)*
                ::std::result::Result::Err(#rt::DecodeError::NoMatchingMessage(errors.join("; ")))
            },
            by_content_type: false,
        }
    }
}
