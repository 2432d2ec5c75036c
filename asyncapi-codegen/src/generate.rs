//! Stage 5: IR + types to the token stream `asyncapi!` expands into.

use std::collections::{HashMap, HashSet};

use heck::ToShoutySnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;

use crate::exact::type_enforces_schema;
use crate::ir::{Action, Channel, Document, Message, PayloadFormat};
use crate::load::push_segment;
use crate::normalize::placeholders;
use crate::resolve::{field_of, ref_of, NodeId, Resolver, NULL};
use crate::types::{doc_attrs, field_ident_text, serde_crate_path, type_ident_text, Ty, TypeSpace};

/// What the generated code knows about one message.
struct MessageCode {
    ty: TokenStream,
    ty_name: String,
    codec: Codec,
    headers: Option<Ty>,
    key: Option<Ty>,
}

/// How to encode a message's payload.
#[derive(Clone, Copy, PartialEq)]
enum Codec {
    Json,
    Text,
    Bytes,
}

fn codec_for(m: &Message, ty: &Ty) -> Codec {
    let base = m
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if m.payload_format != PayloadFormat::JsonSchema {
        return Codec::Bytes;
    }
    if base == "application/octet-stream" {
        Codec::Bytes
    } else if base == "text/plain" && ty.is_string {
        Codec::Text
    } else {
        Codec::Json
    }
}

pub struct Generator<'a> {
    pub rt: TokenStream,
    pub doc: &'a Document,
    pub types: TypeSpace,
    /// Each channel's message type, as named at the top level of the expansion.
    pub channel_messages: Vec<TokenStream>,
}

impl Generator<'_> {
    pub fn generate(mut self, r: &Resolver) -> (TokenStream, Vec<crate::diagnostics::Diagnostic>) {
        let messages = self.messages(r);
        let info = self.info();
        let servers = self.servers();
        let channel_items: Vec<TokenStream> = (0..self.doc.channels.len())
            .map(|i| self.channel(r, i, &messages))
            .collect();
        let sides = self.sides();
        let lookup = self.listener_lookup();
        let warnings = std::mem::take(&mut self.types.warnings);
        let types = self.types.into_items();
        let tokens = quote! {
            #info
            #servers
            #(#types)*
            /// One marker type per channel of the document (implementing the runtime's `Channel`).
            pub mod channels {
                #(#channel_items)*
            }
            #sides
            #lookup
        };
        (tokens, warnings)
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
        for s in &self.doc.servers {
            let ident = format_ident!("{}", const_ident(&s.name));
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

    /// Generates the type of every message and its `Message` impl.
    fn messages(&mut self, r: &Resolver) -> Vec<MessageCode> {
        let rt = self.rt.clone();
        let p = quote! { #rt::__private };
        let mut claimed: HashSet<String> = HashSet::new();
        let mut header_impls: HashSet<String> = HashSet::new();
        let mut key_impls: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for m in &self.doc.messages {
            let base_name = type_ident_text(&m.name);
            let doc = doc_attrs(&[
                m.title.as_deref(),
                m.summary.as_deref(),
                m.description.as_deref(),
            ]);
            let payload = match (&m.payload, &m.payload_format) {
                (Some((id, v)), PayloadFormat::JsonSchema) => {
                    Some(self.types.type_for(r, id, v, &base_name))
                }
                _ => None,
            };
            let name = &m.name;
            let content_type = &m.content_type;
            // The message type is the payload's own struct/enum when no other message has
            // claimed it; otherwise a newtype named after the message.
            let (ty_name, codec) = match &payload {
                Some(t)
                    if t.nominal.as_ref().is_some_and(|n| !claimed.contains(n)) && !t.nullable =>
                {
                    (t.nominal.clone().unwrap_or_default(), codec_for(m, t))
                }
                _ => {
                    let newtype = self.types.claim_name(&if claimed.contains(&base_name)
                        || payload.as_ref().and_then(|t| t.nominal.as_ref()) == Some(&base_name)
                    {
                        format!("{base_name}Message")
                    } else {
                        base_name.clone()
                    });
                    let ident = format_ident!("{}", newtype);
                    let (inner, codec, why) = match &payload {
                        Some(t) => {
                            let tt = &t.tokens;
                            let inner = if t.nullable {
                                quote! { ::std::option::Option<#tt> }
                            } else {
                                quote! { #tt }
                            };
                            let why = match &t.nominal {
                                Some(n) => format!(" The payload type `{n}` is already another message's type, so this message wraps it."),
                                None => " The payload schema is not an object of its own, so the message wraps it.".to_owned(),
                            };
                            (inner, codec_for(m, t), why)
                        }
                        None => match &m.payload_format {
                            PayloadFormat::Opaque(f) => (
                                quote! { ::std::vec::Vec<u8> },
                                Codec::Bytes,
                                format!(" The payload's `schemaFormat` (`{f}`) is not JSON Schema: it is carried as raw bytes."),
                            ),
                            PayloadFormat::JsonSchema => (
                                quote! { #p::serde_json::Value },
                                Codec::Json,
                                " The message declares no payload schema: any JSON value.".to_owned(),
                            ),
                        },
                    };
                    let krate = serde_crate_path(&rt);
                    let separator = (!doc.is_empty()).then(|| quote! { #[doc = ""] });
                    self.types.push_item(quote! {
                        #doc
                        #separator
                        #[doc = #why]
                        #[derive(Debug, Clone, PartialEq, #p::serde::Serialize, #p::serde::Deserialize)]
                        #[serde(crate = #krate, transparent)]
                        pub struct #ident(pub #inner);
                    });
                    (newtype, codec)
                }
            };
            claimed.insert(ty_name.clone());
            let ident = format_ident!("{}", ty_name);
            // Only JSON payloads are validated, so only they decode from a parsed value.
            let decode_value = matches!(codec, Codec::Json).then(|| quote! {
                fn decode_value(value: #p::serde_json::Value, _content_type: ::std::option::Option<&str>) -> ::std::result::Result<Self, #rt::DecodeError> { #rt::codec::decode_json_value(value, #name) }
            });
            let (encode, decode) = match codec {
                Codec::Json => (
                    quote! { #rt::codec::encode_json(self) },
                    quote! { #rt::codec::decode_json(bytes, #name) },
                ),
                Codec::Text => (
                    quote! { ::std::result::Result::Ok(::std::string::ToString::to_string(&self.0).into_bytes()) },
                    quote! { #rt::codec::decode_json(&#p::serde_json::to_vec(&::std::string::String::from_utf8_lossy(bytes)).unwrap_or_default(), #name) },
                ),
                Codec::Bytes => (
                    quote! { ::std::result::Result::Ok(::std::clone::Clone::clone(&self.0)) },
                    quote! { ::std::result::Result::Ok(Self(::std::convert::From::from(bytes))) },
                ),
            };
            let codec_doc = format!(" Message `{name}` (`{content_type}`).");
            self.types.push_item(quote! {
                #[doc = #codec_doc]
                impl #rt::Message for #ident {
                    const NAME: &'static str = #name;
                    const CONTENT_TYPE: &'static str = #content_type;
                    fn encode(&self) -> ::std::result::Result<::std::vec::Vec<u8>, #rt::EncodeError> { #encode }
                    fn decode(bytes: &[u8], _content_type: ::std::option::Option<&str>) -> ::std::result::Result<Self, #rt::DecodeError> { #decode }
                    #decode_value
                }
            });
            let headers = m.headers.as_ref().map(|(id, v)| {
                let t = self.types.type_for(r, id, v, &format!("{ty_name}Headers"));
                match &t.nominal {
                    Some(n) if header_impls.insert(n.clone()) => {
                        let hident = format_ident!("{}", n);
                        let strings = string_properties(r, id, v);
                        self.types.push_item(quote! {
                            impl #rt::HeaderSet for #hident {
                                fn to_kafka_headers(&self) -> ::std::result::Result<::std::vec::Vec<#rt::RawHeader>, #rt::EncodeError> {
                                    #rt::codec::encode_headers(self)
                                }
                                fn from_kafka_headers(headers: &[#rt::RawHeader]) -> ::std::result::Result<Self, #rt::DecodeError> {
                                    #rt::codec::decode_headers(headers, &[#(#strings),*])
                                }
                            }
                        });
                        t
                    }
                    Some(_) => t,
                    None => {
                        self.types.warnings.push(r.error(id, "message headers are not an object schema; headers stay raw"));
                        Ty { tokens: quote! { #rt::RawHeaders }, nullable: false, nominal: None, is_string: false, note: None, recursive: false }
                    }
                }
            });
            let key = m.key.as_ref().and_then(|(id, v)| {
                let t = self.types.type_for(r, id, v, &format!("{ty_name}Key"));
                if t.is_string {
                    return Some(Ty { tokens: quote! { ::std::string::String }, ..t });
                }
                match &t.nominal {
                    Some(n) => {
                        if key_impls.insert(n.clone()) {
                            let kident = format_ident!("{}", n);
                            self.types.push_item(quote! {
                                impl #rt::RecordKey for #kident {
                                    fn encode_key(&self) -> ::std::result::Result<::std::vec::Vec<u8>, #rt::EncodeError> { #rt::codec::encode_key(self) }
                                    fn decode_key(bytes: &[u8]) -> ::std::result::Result<Self, #rt::DecodeError> { #rt::codec::decode_key(bytes) }
                                }
                            });
                        }
                        Some(t)
                    }
                    None => {
                        self.types.warnings.push(r.error(id, "the Kafka key schema is neither a string nor an object; the key stays raw bytes"));
                        None
                    }
                }
            });
            out.push(MessageCode {
                ty: quote! { #ident },
                ty_name,
                codec,
                headers,
                key,
            });
        }
        out
    }

    /// The marker type of channel `i`, its parameters, and its message enum.
    fn channel(&mut self, r: &Resolver, i: usize, messages: &[MessageCode]) -> TokenStream {
        let rt = self.rt.clone();
        let p = quote! { #rt::__private };
        let c: &Channel = &self.doc.channels[i];
        let ident = format_ident!("{}", channel_type_name(c));
        let id = &c.id;
        let address = c.address.clone().unwrap_or_default();
        let topic = match &c.topic {
            Ok(t) => t.clone(),
            Err(_) => String::new(),
        };
        // Message type: the one message, or an enum of them.
        let top_level = match c.messages.as_slice() {
            [] => quote! { #p::serde_json::Value },
            [one] => messages[*one].ty.clone(),
            many => {
                let enum_name = self
                    .types
                    .claim_name(&format!("{}Message", channel_type_name(c)));
                let eident = format_ident!("{}", enum_name);
                self.channel_enum(r, c, &eident, many, messages);
                quote! { #eident }
            }
        };
        let message_ty = if c.messages.is_empty() {
            top_level.clone()
        } else {
            quote! { super::#top_level }
        };
        self.channel_messages.push(top_level);
        // Typed headers/key only when every message of the channel agrees on them.
        let agree = |f: &dyn Fn(&MessageCode) -> Option<String>| -> Option<String> {
            let set: HashSet<Option<String>> =
                c.messages.iter().map(|&m| f(&messages[m])).collect();
            if set.len() == 1 {
                set.into_iter().next().flatten()
            } else {
                None
            }
        };
        let headers_ty = agree(&|m| m.headers.as_ref().and_then(|h| h.nominal.clone()))
            .map(|n| {
                let n = format_ident!("{}", n);
                quote! { super::#n }
            })
            .unwrap_or_else(|| quote! { #rt::RawHeaders });
        let key_ty = agree(&|m| m.key.as_ref().map(|k| k.tokens.to_string()))
            .and_then(|k| k.parse::<TokenStream>().ok())
            .map(|k| {
                if k.to_string().starts_with("::") {
                    k
                } else {
                    quote! { super::#k }
                }
            })
            .unwrap_or_else(|| quote! { ::std::vec::Vec<u8> });
        let (params_ty, params_item) = self.parameters(c);
        let names: Vec<String> = placeholders(&topic);
        let group = self
            .doc
            .operations
            .iter()
            .filter(|o| o.channel == i)
            .find_map(|o| o.group_id.clone());
        let client = self
            .doc
            .operations
            .iter()
            .filter(|o| o.channel == i)
            .find_map(|o| o.client_id.clone());
        let group = opt_str(&group);
        let client = opt_str(&client);
        let single = match c.messages.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let payload = single
            .map(|m| &self.doc.messages[m])
            .filter(|m| m.payload_format == PayloadFormat::JsonSchema)
            .and_then(|m| m.payload.as_ref());
        let bundled = payload.and_then(|(id, _)| bundle_schema(r, id));
        // Text and byte payloads are not decoded as JSON: their type says nothing.
        let decoded_as_json = single.is_some_and(|m| messages[m].codec == Codec::Json);
        let type_enforces_schema = bundled.is_some()
            && decoded_as_json
            && payload.is_some_and(|(id, _)| type_enforces_schema(r, id));
        let schema = match bundled {
            Some(s) => quote! { ::std::option::Option::Some(#s) },
            None => quote! { ::std::option::Option::None },
        };
        let topic_doc = match &c.topic {
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
        let carried = format!("channel `{id}` carries {}", self.carried_list(c, messages));
        let check_trait = format_ident!("{}CarriesMessage", channel_type_name(c));
        let on_unimpl_msg = format!("`{{Self}}` is not a message of channel `{id}`");
        let on_unimpl_note = format!("{carried}; the handler's first parameter must be that type");
        let carried_impls: Vec<TokenStream> = std::iter::once(message_ty.clone())
            .map(|t| quote! { impl #check_trait for #t { fn __from_message(message: #message_ty) -> Self { message } } })
            .collect();
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

            #[doc(hidden)]
            #[diagnostic::on_unimplemented(message = #on_unimpl_msg, label = "not a message of this channel", note = #on_unimpl_note)]
            pub trait #check_trait: ::std::marker::Sized {
                /// The identity: a listener converts the channel's message to its handler's
                /// parameter type through it, so a wrong type fails here (one error, with the
                /// message above) and nowhere else.
                fn __from_message(message: #message_ty) -> Self;
            }
            #(#carried_impls)*
        }
    }

    fn carried_list(&self, c: &Channel, messages: &[MessageCode]) -> String {
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

    fn channel_enum(
        &mut self,
        r: &Resolver,
        c: &Channel,
        eident: &proc_macro2::Ident,
        many: &[usize],
        messages: &[MessageCode],
    ) {
        let rt = self.rt.clone();
        let p = quote! { #rt::__private };
        let variants: Vec<(proc_macro2::Ident, &MessageCode, &Message)> = many
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
        // Decoding: by a property every message pins to its own constant, else by the
        // record's content type when the messages' types differ, else the first that decodes.
        let payloads: Vec<&Value> = many
            .iter()
            .map(|&m| {
                self.doc.messages[m]
                    .payload
                    .as_ref()
                    .and_then(|(id, _)| r.node(id).ok())
                    .map_or(&NULL, |(_, v)| v)
            })
            .collect();
        let tag = tag_property(&payloads);
        let cts: HashSet<&str> = variants
            .iter()
            .map(|(_, _, m)| m.content_type.as_str())
            .collect();
        let (strategy, decode) = if let Some((prop, tags)) = tag {
            let arms = variants.iter().zip(&tags).map(|((v, mc, _), tag)| {
                let t = &mc.ty;
                quote! { ::std::option::Option::Some(#tag) => <#t as #rt::Message>::decode(bytes, content_type).map(Self::#v), }
            });
            let expected = tags
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let err = format!("`{prop}` must be one of {expected}");
            (
                format!(
                    " Decoded by the `{prop}` property, which each message pins to its own value."
                ),
                quote! {
                    let probe: #p::serde_json::Value = #rt::codec::decode_json(bytes, #eident::NAME)?;
                    match probe.get(#prop).and_then(#p::serde_json::Value::as_str) {
                        #(#arms)*
                        _ => ::std::result::Result::Err(#rt::DecodeError::NoMatchingMessage(::std::string::String::from(#err))),
                    }
                },
            )
        } else if cts.len() == variants.len() {
            let arms = variants.iter().map(|(v, mc, m)| {
                let t = &mc.ty;
                let ct = &m.content_type;
                quote! { ::std::option::Option::Some(#ct) => <#t as #rt::Message>::decode(bytes, content_type).map(Self::#v), }
            });
            (
                " Decoded by the record's `content-type` header: each message has its own content type.".to_owned(),
                quote! {
                    match content_type {
                        #(#arms)*
                        other => ::std::result::Result::Err(#rt::DecodeError::ContentType(::std::string::String::from(other.unwrap_or("<none>")))),
                    }
                },
            )
        } else {
            let tries = variants.iter().map(|(v, mc, _)| {
                let t = &mc.ty;
                quote! {
                    match <#t as #rt::Message>::decode(bytes, content_type) {
                        ::std::result::Result::Ok(m) => return ::std::result::Result::Ok(Self::#v(m)),
                        ::std::result::Result::Err(e) => errors.push(::std::string::ToString::to_string(&e)),
                    }
                }
            });
            (
                " Decoded as the first message (in document order) the payload matches: the document gives no discriminator, constant tag or distinct content type.".to_owned(),
                quote! {
                    let mut errors: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
                    #(#tries)*
                    ::std::result::Result::Err(#rt::DecodeError::NoMatchingMessage(errors.join("; ")))
                },
            )
        };
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
                fn content_type(&self) -> &'static str { match self { #(#ct_arms)* } }
                fn encode(&self) -> ::std::result::Result<::std::vec::Vec<u8>, #rt::EncodeError> { match self { #(#enc_arms)* } }
                fn decode(bytes: &[u8], content_type: ::std::option::Option<&str>) -> ::std::result::Result<Self, #rt::DecodeError> { #decode }
            }
            #(#froms)*
        });
    }

    fn parameters(&mut self, c: &Channel) -> (TokenStream, TokenStream) {
        let rt = self.rt.clone();
        if c.parameters.is_empty() {
            return (quote! { #rt::NoParameters }, quote! {});
        }
        let name = format_ident!("{}Parameters", channel_type_name(c));
        let order = match &c.topic {
            Ok(t) => placeholders(t),
            Err(_) => c.parameters.iter().map(|p| p.name.clone()).collect(),
        };
        let mut fields = Vec::new();
        let mut values = Vec::new();
        let mut parse = Vec::new();
        for (i, pname) in order.iter().enumerate() {
            let param = c.parameters.iter().find(|p| &p.name == pname);
            let field = format_ident!("{}", field_ident_text(pname));
            let mut docs = vec![param.and_then(|p| p.description.clone())];
            if let Some(p) = param.filter(|p| !p.allowed.is_empty()) {
                docs.push(Some(format!(
                    "One of: {}.",
                    p.allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let doc = doc_attrs(&docs.iter().map(|d| d.as_deref()).collect::<Vec<_>>());
            fields.push(quote! { #doc pub #field: ::std::string::String, });
            values.push(quote! { ::std::borrow::Cow::Borrowed(self.#field.as_str()) });
            let allowed: Vec<String> = param.map(|p| p.allowed.clone()).unwrap_or_default();
            let pname_lit = pname.as_str();
            let check = if allowed.is_empty() {
                quote! {}
            } else {
                let msg = format!("must be one of {}", allowed.join(", "));
                quote! {
                    if ![#(#allowed),*].contains(&value) {
                        return ::std::result::Result::Err(#rt::DecodeError::Parameter { name: #pname_lit, reason: ::std::string::String::from(#msg) });
                    }
                }
            };
            parse.push(quote! {
                #field: {
                    let value = *values.get(#i).ok_or(#rt::DecodeError::Parameter { name: #pname_lit, reason: ::std::string::String::from("missing") })?;
                    #check
                    ::std::string::String::from(value)
                },
            });
        }
        let doc = format!(
            " Values of the `{{parameters}}` of channel `{}`: they build its topic.",
            c.id
        );
        let item = quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
            pub struct #name { #(#fields)* }

            impl #rt::ChannelParameters for #name {
                fn values(&self) -> ::std::vec::Vec<::std::borrow::Cow<'_, str>> { ::std::vec![#(#values),*] }
                fn from_values(values: &[&str]) -> ::std::result::Result<Self, #rt::DecodeError> {
                    ::std::result::Result::Ok(Self { #(#parse)* })
                }
            }
        };
        (quote! { #name }, item)
    }

    /// The application the document describes, and a client of it (the mirror image).
    fn sides(&self) -> TokenStream {
        let rt = &self.rt;
        let mut out = TokenStream::new();
        for (side, mirrored) in [("Application", false), ("Client", true)] {
            let ident = format_ident!("{}", side);
            let mut methods = Vec::new();
            let mut impls = Vec::new();
            let mut sends = Vec::new();
            let mut receives = Vec::new();
            let mut done: HashSet<(usize, bool)> = HashSet::new();
            for op in &self.doc.operations {
                let c = &self.doc.channels[op.channel];
                if c.topic.is_err() {
                    continue;
                }
                let sending = (op.action == Action::Send) != mirrored;
                if !done.insert((op.channel, sending)) {
                    continue;
                }
                let ch = format_ident!("{}", channel_type_name(c));
                if sending {
                    sends.push(c.id.clone());
                    impls.push(quote! { impl #rt::Sends<channels::#ch> for #ident {} });
                    let fname = format_ident!("send_{}", field_ident_text(&c.id));
                    let msg_ty = &self.channel_messages[op.channel];
                    let ename = format_ident!("enqueue_{}", field_ident_text(&c.id));
                    let doc = format!(" Sends a message on channel `{}` and waits for the broker's acknowledgement.", c.id);
                    let op_doc = op
                        .summary
                        .as_deref()
                        .or(op.description.as_deref())
                        .map(|s| format!(" Operation `{}`: {}", op.id, s))
                        .unwrap_or_else(|| format!(" Operation `{}`.", op.id));
                    let edoc = format!(" Queues a message on channel `{}` with a key, headers or parameters; await the returned future for the delivery report. Many sends may be in flight at once.", c.id);
                    let (param_arg, param_use) = if c.parameters.is_empty() {
                        (quote! {}, quote! {})
                    } else {
                        let pt = format_ident!("{}Parameters", channel_type_name(c));
                        (
                            quote! { parameters: &channels::#pt, },
                            quote! { .parameters(parameters) },
                        )
                    };
                    methods.push(quote! {
                        #[doc = #doc]
                        #[doc = ""]
                        #[doc = #op_doc]
                        pub async fn #fname(&self, #param_arg message: &#msg_ty) -> ::std::result::Result<#rt::Delivery, #rt::SendError> {
                            self.producer.send::<channels::#ch>(#rt::Outgoing::new(message) #param_use).await
                        }
                        #[doc = #edoc]
                        pub async fn #ename(&self, outgoing: #rt::Outgoing<'_, channels::#ch>) -> ::std::result::Result<#rt::DeliveryFuture, #rt::SendError> {
                            self.producer.enqueue::<channels::#ch>(outgoing).await
                        }
                    });
                } else {
                    receives.push(c.id.clone());
                    impls.push(quote! { impl #rt::Receives<channels::#ch> for #ident {} });
                }
            }
            let sends_doc = list_doc("Sends on", &sends);
            let receives_doc = list_doc("Receives from", &receives);
            let head = if mirrored {
                format!(" A client of {}: the mirror image of [`Application`], it sends what the application receives and receives what it sends.", self.doc.title)
            } else {
                format!(" The application described by {}.", self.doc.title)
            };
            let default_server = self
                .doc
                .servers
                .iter()
                .find(|s| s.protocol.starts_with("kafka"))
                .map(|s| format_ident!("{}", const_ident(&s.name)));
            // A document server brings its security schemes along, as in `for_server`.
            let from_env_config = match default_server {
                Some(s) => quote! {
                    #rt::KafkaConfig::from_env_or_server(::std::option::Option::Some(&servers::#s))?
                        .security_for_server(&servers::#s, servers::SECURITY_SCHEMES)?
                },
                None => {
                    quote! { #rt::KafkaConfig::from_env_or_server(::std::option::Option::None)? }
                }
            };
            let mut topics_lit: Vec<String> = Vec::new();
            for op in &self.doc.operations {
                let c = &self.doc.channels[op.channel];
                if let Ok(t) = &c.topic {
                    if c.parameters.is_empty() && !t.contains('{') && !topics_lit.contains(t) {
                        topics_lit.push(t.clone());
                    }
                }
            }
            // `<topic>.dlq`, the consumer's default, for each topic this side receives from.
            let dead_letter_lit: Vec<String> = self
                .doc
                .channels
                .iter()
                .filter(|c| receives.contains(&c.id) && c.parameters.is_empty())
                .filter_map(|c| c.topic.as_ref().ok())
                .filter(|t| !t.contains('{'))
                .map(|t| format!("{t}.dlq"))
                .collect();
            let sends_lit = &sends;
            let receives_lit = &receives;
            out.extend(quote! {
                #[doc = #head]
                #[doc = ""]
                #[doc = #sends_doc]
                #[doc = #receives_doc]
                pub struct #ident {
                    producer: #rt::Producer,
                    config: #rt::KafkaConfig,
                }

                impl #ident {
                    /// Channels this side sends on.
                    pub const SENDS: &'static [&'static str] = &[#(#sends_lit),*];
                    /// Channels this side receives from.
                    pub const RECEIVES: &'static [&'static str] = &[#(#receives_lit),*];
                    /// Kafka topics of this side's channels that have no parameters.
                    pub const TOPICS: &'static [&'static str] = &[#(#topics_lit),*];
                    /// The default dead-letter topics (`<topic>.dlq`) of the topics in
                    /// [`TOPICS`](Self::TOPICS) this side receives from.
                    pub const DEAD_LETTER_TOPICS: &'static [&'static str] = &[#(#dead_letter_lit),*];

                    /// Connects with `config`.
                    pub fn new(config: #rt::KafkaConfig) -> ::std::result::Result<Self, #rt::ConfigError> {
                        let producer = #rt::Producer::new(&config)?;
                        ::std::result::Result::Ok(Self { producer, config })
                    }

                    /// Connects to a server of the document (see [`servers`]): fills its
                    /// `{variables}` from `variables` or their defaults, and applies the
                    /// security schemes it requires (credentials from the environment:
                    /// `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`; a private CA from
                    /// `KAFKA_SSL_CA_LOCATION`).
                    pub fn for_server(server: &#rt::Server, variables: &[(&str, &str)]) -> ::std::result::Result<Self, #rt::ConfigError> {
                        Self::new(#rt::KafkaConfig::for_server(server, variables)?.security_for_server(server, servers::SECURITY_SCHEMES)?)
                    }

                    /// Connects to `KAFKA_BOOTSTRAP_SERVERS`, or else the document's first Kafka
                    /// server, with that server's TLS and security schemes (credentials and CA
                    /// from the environment, as for [`for_server`](Self::for_server)).
                    pub fn from_env() -> ::std::result::Result<Self, #rt::ConfigError> {
                        Self::new(#from_env_config)
                    }

                    /// Creates this side's topics (those it sends on and receives from) and
                    /// the dead-letter topics of those it receives from, where they do not
                    /// exist yet, with `partitions` partitions. For real brokers; the
                    /// embedded broker takes the same lists with `EmbeddedKafka::create_topics`.
                    /// Channels with parameters are skipped: their topics depend on values.
                    pub async fn ensure_topics(&self, partitions: i32) -> ::std::result::Result<(), #rt::AdminError> {
                        #rt::ensure_topics(&self.config, &[Self::TOPICS, Self::DEAD_LETTER_TOPICS].concat(), partitions).await
                    }

                    /// The producer this side sends with.
                    pub fn producer(&self) -> &#rt::Producer {
                        &self.producer
                    }

                    /// The configuration this side was built with.
                    pub fn config(&self) -> &#rt::KafkaConfig {
                        &self.config
                    }

                    /// A consumer for the channels this side receives from: register
                    /// `#[event_listener]` handlers with `listen`, or take typed streams with `subscribe`.
                    pub fn consumer(&self) -> #rt::Consumer<Self> {
                        #rt::Consumer::new(self.config.clone()).side::<Self>()
                    }

                    #(#methods)*
                }
                #(#impls)*
            });
        }
        out
    }

    /// A `macro_rules!` that `#[event_listener]` expands into. For a channel the side
    /// receives from, it completes the listener's `impl Listener` with the channel's marker
    /// type and converts the message to the handler's parameter type through the channel's
    /// `...CarriesMessage` trait (a wrong type fails there, at the parameter, and only
    /// there). For an unknown or send-only channel it emits no impl, only an error, through
    /// `#[event_listener(__channel_error(..))]` so that the error points at the user's
    /// channel string (a `compile_error!` written here would point at `asyncapi!`).
    fn listener_lookup(&self) -> TokenStream {
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

fn list_doc(what: &str, list: &[String]) -> String {
    if list.is_empty() {
        format!(" {what}: nothing.")
    } else {
        format!(
            " {what}: {}.",
            list.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The marker type name of a channel.
pub fn channel_type_name(c: &Channel) -> String {
    type_ident_text(&c.id)
}

fn const_ident(name: &str) -> String {
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

fn opt_str(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => quote! { ::std::option::Option::Some(#s) },
        None => quote! { ::std::option::Option::None },
    }
}

fn string_properties(r: &Resolver, id: &NodeId, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(props) = v.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for k in props.keys() {
        if let Ok((_, s)) = r.node(&id.child("properties").child(k)) {
            if s.get("type").and_then(Value::as_str) == Some("string") {
                out.push(k.clone());
            }
        }
    }
    out
}

/// A property every payload pins to its own distinct string constant.
fn tag_property(payloads: &[&Value]) -> Option<(String, Vec<String>)> {
    let first = payloads.first()?.get("properties")?.as_object()?;
    for prop in first.keys() {
        let tags: Option<Vec<String>> = payloads
            .iter()
            .map(|p| {
                let s = p.get("properties")?.get(prop)?;
                s.get("const")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| match s.get("enum")?.as_array()?.as_slice() {
                        [Value::String(v)] => Some(v.clone()),
                        _ => None,
                    })
            })
            .collect();
        if let Some(tags) = tags {
            if tags.iter().collect::<HashSet<_>>().len() == tags.len() {
                return Some((prop.clone(), tags));
            }
        }
    }
    None
}

/// The payload schema as one self-contained JSON Schema (JSON text) for run-time
/// validation: every schema a `$ref` names is copied once into `$defs` and referenced
/// from there, so recursion stays recursion and shared schemas are not duplicated
/// (inlining every path through the references grows exponentially).
///
/// The JSON is written as the document is walked (no intermediate `Value`): the same
/// text `serde_json` would print for the bundled value.
fn bundle_schema(r: &Resolver, id: &NodeId) -> Option<String> {
    let mut bundler = Bundler {
        r,
        defs: Vec::new(),
        names: HashMap::new(),
        taken: HashSet::new(),
        at: id.clone(),
        root_defs: None,
    };
    let mut root = Vec::new();
    let root_is_object = match r.get(id) {
        Some(value) => bundler.schema(&mut root, value, 0),
        None => {
            root.extend_from_slice(b"true");
            false
        }
    };
    let mut out = Vec::with_capacity(root.len() + 2);
    if bundler.defs.is_empty() {
        match bundler.root_defs.take() {
            // The document's own root `$defs`, bundled, where it was.
            Some((at, own)) => splice(&mut out, &root, at, &own),
            None => out = root,
        }
        return String::from_utf8(out).ok();
    }
    let mut defs = b"{".to_vec();
    for (i, (name, body)) in bundler.defs.iter().enumerate() {
        if i > 0 {
            defs.push(b',');
        }
        write_json_str(&mut defs, name);
        defs.push(b':');
        defs.extend_from_slice(body);
    }
    defs.push(b'}');
    match (bundler.root_defs.take(), root_is_object) {
        // A root `$defs` of the document's own is replaced where it stands.
        (Some((at, _)), _) => splice(&mut out, &root, at, &defs),
        (None, true) => {
            out.extend_from_slice(&root[..root.len() - 1]);
            if root.len() > 2 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"$defs\":");
            out.extend_from_slice(&defs);
            out.push(b'}');
        }
        (None, false) => {
            out.extend_from_slice(b"{\"allOf\":[");
            out.extend_from_slice(&root);
            out.extend_from_slice(b"],\"$defs\":");
            out.extend_from_slice(&defs);
            out.push(b'}');
        }
    }
    String::from_utf8(out).ok()
}

/// `text` with `insert` at byte `at`.
fn splice(out: &mut Vec<u8>, text: &[u8], at: usize, insert: &[u8]) {
    out.extend_from_slice(&text[..at]);
    out.extend_from_slice(insert);
    out.extend_from_slice(&text[at..]);
}

/// Appends `value` as JSON (serializing a `str` or a `Value` cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

/// Appends a JSON string, as `serde_json` writes it. Most keys and values need no
/// escape and are copied whole: a plain loop finds out (the serializer's per-byte
/// work is slow in the debug build a proc macro runs as).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] >= 0x20 && bytes[i] != b'"' && bytes[i] != b'\\' {
        i += 1;
    }
    if i < bytes.len() {
        return write_json(out, s);
    }
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

/// [`write_json`], with strings by [`write_json_str`].
fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_json_str(out, s),
        other => write_json(out, other),
    }
}

struct Bundler<'r> {
    r: &'r Resolver,
    /// Each referenced schema's name under `$defs` and its bundled body, in the order
    /// the names were taken (a name is taken before its body is written: a reference
    /// back to it is recursion).
    defs: Vec<(String, Vec<u8>)>,
    /// Referenced schema node → its index in `defs`.
    names: HashMap<NodeId, usize>,
    /// The names in `defs`.
    taken: HashSet<String>,
    /// The node being copied: its pointer grows and shrinks with the walk, so only a
    /// `$ref` costs a `NodeId` of its own.
    at: NodeId,
    /// A `$defs` of the root schema itself: where its value goes in the root's text,
    /// and that value bundled (kept when no reference fills our own `$defs`).
    root_defs: Option<(usize, Vec<u8>)>,
}

impl Bundler<'_> {
    /// Writes a schema position (the node at `self.at`, whose value is `value`): a
    /// reference becomes a `$defs` reference, anything else is copied. Says whether it
    /// wrote an object.
    fn schema(&mut self, out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
        if ref_of(value).is_none() {
            return self.body(out, value, depth);
        }
        let Ok((target, target_value)) = self.r.resolve(&self.at, value) else {
            out.extend_from_slice(b"true");
            return false;
        };
        let index = match self.names.get(&target) {
            Some(&index) => index,
            None => {
                let base: String = target
                    .last_segment()
                    .unwrap_or_else(|| "schema".to_owned())
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let name = (1..)
                    .map(|i| {
                        if i == 1 {
                            base.clone()
                        } else {
                            format!("{base}_{i}")
                        }
                    })
                    .find(|n| !self.taken.contains(n))
                    .unwrap_or(base);
                self.taken.insert(name.clone());
                let index = self.defs.len();
                self.names.insert(target.clone(), index);
                self.defs.push((name, b"true".to_vec()));
                let here = std::mem::replace(&mut self.at, target);
                let mut body = Vec::new();
                self.body(&mut body, target_value, depth + 1);
                self.at = here;
                self.defs[index].1 = body;
                index
            }
        };
        out.extend_from_slice(b"{\"$ref\":");
        write_json_str(out, &format!("#/$defs/{}", self.defs[index].0));
        out.push(b'}');
        true
    }

    /// [`Bundler::schema`] for the child `segment` of the current node.
    fn child(&mut self, out: &mut Vec<u8>, segment: &str, value: &Value, depth: usize) {
        let len = self.at.pointer.len();
        push_segment(&mut self.at.pointer, segment);
        self.schema(out, value, depth);
        self.at.pointer.truncate(len);
    }

    /// Writes a schema's own keywords, with nested schema positions bundled. Says
    /// whether it wrote an object.
    fn body(&mut self, out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
        // Documents are finite and references are named once, so only absurd inline
        // nesting reaches this bound.
        if depth > 256 {
            out.extend_from_slice(b"true");
            return false;
        }
        let Value::Object(map) = value else {
            write_json_value(out, value);
            return false;
        };
        // AsyncAPI 2.x `nullable` is not JSON Schema: a string `type` becomes a list.
        let nullable = field_of(map, "nullable").and_then(Value::as_bool) == Some(true);
        out.push(b'{');
        for (i, (k, val)) in map.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, k);
            out.push(b':');
            // The root's own `$defs` may be replaced by ours: bundle it aside.
            let aside = depth == 0 && k == "$defs" && self.root_defs.is_none();
            let mut own = Vec::new();
            let target = if aside { &mut own } else { &mut *out };
            match (k.as_str(), val) {
                (
                    "properties" | "patternProperties" | "definitions" | "$defs",
                    Value::Object(inner),
                ) => {
                    let len = self.at.pointer.len();
                    push_segment(&mut self.at.pointer, k);
                    target.push(b'{');
                    for (j, (ik, iv)) in inner.iter().enumerate() {
                        if j > 0 {
                            target.push(b',');
                        }
                        write_json_str(target, ik);
                        target.push(b':');
                        self.child(target, ik, iv, depth + 1);
                    }
                    target.push(b'}');
                    self.at.pointer.truncate(len);
                }
                ("allOf" | "oneOf" | "anyOf" | "prefixItems", Value::Array(items)) => {
                    let len = self.at.pointer.len();
                    push_segment(&mut self.at.pointer, k);
                    target.push(b'[');
                    for (j, item) in items.iter().enumerate() {
                        if j > 0 {
                            target.push(b',');
                        }
                        self.child(target, &j.to_string(), item, depth + 1);
                    }
                    target.push(b']');
                    self.at.pointer.truncate(len);
                }
                // Annotations and values, not schemas: copied as they are.
                (
                    "examples" | "example" | "default" | "const" | "enum" | "discriminator"
                    | "externalDocs" | "bindings",
                    other,
                ) => write_json_value(target, other),
                ("type", Value::String(t)) if nullable => write_json(target, &[t, "null"]),
                (_, Value::Object(_)) => self.child(target, k, val, depth + 1),
                (_, other) => write_json_value(target, other),
            }
            if aside {
                self.root_defs = Some((out.len(), own));
            }
        }
        out.push(b'}');
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Bundles `#/<name>` of a document written as YAML.
    fn bundled(yaml: &str, name: &str) -> Option<String> {
        let loaded = crate::load::parse_text(Path::new("t.yaml"), yaml).unwrap();
        let (r, root) = Resolver::from_loaded(loaded);
        bundle_schema(&r, &root.child(name))
    }

    const DOC: &str = r##"
plain: { type: string, nullable: true, enum: [a, b] }
ref: { $ref: '#/s/A' }
missing: { $ref: '#/s/Nope' }
rooted:
  type: object
  $defs: { Local: { type: integer } }
  properties:
    a: { $ref: '#/s/A' }
    l: { $ref: '#/rooted/$defs/Local' }
s:
  A:
    type: object
    nullable: true
    properties:
      self: { $ref: '#/s/A' }
      b: { $ref: '#/s/B' }
      list: { type: array, items: { $ref: '#/s/B' } }
      either: { oneOf: [{ $ref: '#/s/B' }, { type: 'null' }] }
      example: { type: string, default: { $ref: '#/not/a/schema' } }
  B: { type: string, nullable: true, description: "quote \" and \\ and é" }
  'we/ird': { allOf: [{ $ref: '#/s/A' }] }
t:
  A: { type: integer }
collide:
  properties:
    x: { $ref: '#/t/A' }
    y: { $ref: '#/s/B' }
    z: { $ref: '#/s/we~1ird' }
"##;

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "ctrl\u{1}",
            "tab\t",
            "nl\n",
            "é",
            "\u{7f}",
            "😀",
            "</script>",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn bundles_references_once_into_defs() {
        // Each referenced schema once, under its own name (sanitized, numbered on a
        // clash), recursion as recursion; `nullable` becomes a type list.
        assert_eq!(
            bundled(DOC, "plain").as_deref(),
            Some(r#"{"type":["string","null"],"nullable":true,"enum":["a","b"]}"#)
        );
        assert_eq!(
            bundled(DOC, "ref").as_deref(),
            Some(
                r##"{"$ref":"#/$defs/A","$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"}}}"##
            )
        );
        assert_eq!(bundled(DOC, "missing").as_deref(), Some(r#"true"#));
        assert_eq!(
            bundled(DOC, "rooted").as_deref(),
            Some(
                r##"{"type":"object","$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"Local":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/A"},"l":{"$ref":"#/$defs/Local"}}}"##
            )
        );
        assert_eq!(
            bundled(DOC, "s").as_deref(),
            Some(
                r##"{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"we/ird":{"allOf":[{"$ref":"#/$defs/A"}]},"$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"}}}"##
            )
        );
        assert_eq!(
            bundled(DOC, "collide").as_deref(),
            Some(
                r##"{"properties":{"x":{"$ref":"#/$defs/A"},"y":{"$ref":"#/$defs/B"},"z":{"$ref":"#/$defs/we_ird"}},"$defs":{"A":{"type":"integer"},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"we_ird":{"allOf":[{"$ref":"#/$defs/A_2"}]},"A_2":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A_2"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}}}}"##
            )
        );
        assert_eq!(bundled(DOC, "nothing").as_deref(), Some(r#"true"#));
    }
}
