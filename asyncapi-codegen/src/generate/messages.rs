//! The type of every message and its `Message` impl.

use std::collections::HashSet;
use std::rc::Rc;

use asyncapi_syntax::ContentType;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Generator;
use crate::ir::{Message, PayloadFormat};
use crate::schema::{holds_text, merge_properties, Schema, Schemas};
use crate::types::{doc_attrs, serde_crate_path, type_ident_text, Ty};

/// What the generated code knows about one message.
pub(super) struct MessageCode {
    pub(super) ty: TokenStream,
    pub(super) ty_name: String,
    pub(super) codec: Codec,
    pub(super) headers: Option<Ty>,
    pub(super) key: Option<Ty>,
}

/// How to encode a message's payload.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Codec {
    Json,
    Text,
    Bytes,
}

pub(super) fn codec_for(m: &Message, ty: &Ty) -> Codec {
    if m.payload_format != PayloadFormat::JsonSchema {
        return Codec::Bytes;
    }
    match ContentType::parse(&m.content_type) {
        Some(ContentType::Bytes) => Codec::Bytes,
        Some(ContentType::Text) if ty.is_string => Codec::Text,
        _ => Codec::Json,
    }
}

/// The doc of a message's `Message` impl: its name and content type, what the document
/// says of it (title, summary, description: the type itself may be named after its
/// schema and documented from there), and its examples.
fn message_doc(m: &Message) -> TokenStream {
    let head = format!("Message `{}` (`{}`).", m.name, m.content_type);
    let mut parts = vec![
        Some(head),
        m.title.clone(),
        m.summary.clone(),
        m.description.clone(),
    ];
    for (name, payload) in &m.examples {
        let json = serde_json::to_string_pretty(payload).unwrap_or_default();
        // Long examples document nothing a reader can take in.
        if json.len() > 2_000 {
            continue;
        }
        let label = match name {
            Some(name) => format!("Example `{name}`:"),
            None => "Example:".to_owned(),
        };
        parts.push(Some(format!("{label}\n\n```json\n{json}\n```")));
    }
    let parts: Vec<Option<&str>> = parts.iter().map(Option::as_deref).collect();
    doc_attrs(&parts)
}

impl Generator<'_> {
    /// Generates the type of every message and its `Message` impl.
    pub(super) fn messages(&mut self, schemas: &Schemas<'_>) -> Vec<MessageCode> {
        let mut claimed: HashSet<String> = HashSet::new();
        let mut header_impls: HashSet<String> = HashSet::new();
        let mut key_impls: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for m in &self.doc.messages {
            let (ty_name, codec) = self.message_type(schemas, m, &claimed);
            claimed.insert(ty_name.clone());
            let ident = self.message_impl(m, &ty_name, codec);
            let headers = self.message_headers(schemas, m, &ty_name, &mut header_impls);
            let key = self.message_key(schemas, m, &ty_name, &mut key_impls);
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

    /// The name of message `m`'s type and its codec. The type is the payload's own
    /// struct/enum when no other message has claimed it; otherwise a newtype named
    /// after the message, pushed here.
    fn message_type(
        &mut self,
        schemas: &Schemas<'_>,
        m: &Message,
        claimed: &HashSet<String>,
    ) -> (String, Codec) {
        let rt = self.rt.clone();
        let p = rt.clone();
        let base_name = type_ident_text(&m.name);
        let doc = doc_attrs(&[
            m.title.as_deref(),
            m.summary.as_deref(),
            m.description.as_deref(),
        ]);
        // `application/octet-stream` is bytes whatever its schema says (typically
        // `type: string, format: binary`): there is no JSON to decode.
        let bytes = ContentType::parse(&m.content_type) == Some(ContentType::Bytes);
        let payload = match (&m.payload, &m.payload_format) {
            (Some(id), PayloadFormat::JsonSchema) if !bytes => {
                Some(self.types.type_for(schemas, &schemas.at(id), &base_name))
            }
            _ => None,
        };
        match &payload {
            Some(t) if t.nominal.as_ref().is_some_and(|n| !claimed.contains(n)) && !t.nullable => {
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
                let (inner, codec, why) = wrapped_payload(m, payload.as_ref(), bytes, &rt);
                let ident = format_ident!("{}", newtype);
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
        }
    }

    /// Pushes the `Message` impl of `ty_name` (message `m`); returns the type's ident.
    fn message_impl(&mut self, m: &Message, ty_name: &str, codec: Codec) -> proc_macro2::Ident {
        let rt = self.rt.clone();
        let p = rt.clone();
        let name = &m.name;
        let content_type = &m.content_type;
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
        let doc = message_doc(m);
        self.types.push_item(quote! {
            #doc
            impl #rt::Message for #ident {
                const NAME: &'static str = #name;
                const CONTENT_TYPE: &'static str = #content_type;
                const READS_CONTENT_TYPE: bool = false;
                fn encode(&self) -> ::std::result::Result<::std::vec::Vec<u8>, #rt::EncodeError> { #encode }
                fn decode(bytes: &[u8], _content_type: ::std::option::Option<&str>) -> ::std::result::Result<Self, #rt::DecodeError> { #decode }
                #decode_value
            }
        });
        ident
    }

    /// The typed headers of message `m`, with their `HeaderSet` impl pushed once per type.
    fn message_headers(
        &mut self,
        schemas: &Schemas<'_>,
        m: &Message,
        ty_name: &str,
        header_impls: &mut HashSet<String>,
    ) -> Option<Ty> {
        let rt = self.rt.clone();
        m.headers.as_ref().map(|id| {
            let schema = schemas.at(id);
            let t = self.types.type_for(schemas, &schema, &format!("{ty_name}Headers"));
            match &t.nominal {
                Some(n) if header_impls.insert(n.clone()) => {
                    let hident = format_ident!("{}", n);
                    let strings = string_properties(schemas, &schema);
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
                    self.types.report.warn(schemas.error(id, "message headers are not an object schema; headers stay raw"));
                    Ty { tokens: quote! { #rt::RawHeaders }, nullable: false, nominal: None, is_string: false, note: None, recursive: false }
                }
            }
        })
    }

    /// The typed key of message `m`, with its `RecordKey` impl pushed once per type.
    fn message_key(
        &mut self,
        schemas: &Schemas<'_>,
        m: &Message,
        ty_name: &str,
        key_impls: &mut HashSet<String>,
    ) -> Option<Ty> {
        let rt = self.rt.clone();
        m.key.as_ref().and_then(|id| {
            let t = self.types.type_for(schemas, &schemas.at(id), &format!("{ty_name}Key"));
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
                    self.types.report.warn(schemas.error(id, "the Kafka key schema is neither a string nor an object; the key stays raw bytes"));
                    None
                }
            }
        })
    }
}

/// The properties of a headers schema (a `$ref` followed) whose values are text
/// (`schema::holds_text`): their header values are read as they stand, never as JSON.
pub(super) fn string_properties<'r>(
    schemas: &Schemas<'r>,
    headers: &Rc<Schema<'r>>,
) -> Vec<String> {
    let Ok(headers) = schemas.resolved(headers) else {
        return Vec::new();
    };
    // The struct has the properties of its `allOf` members too, a later declaration of
    // a name replacing an earlier one (as the struct's fields are merged).
    let members: Vec<Rc<Schema<'r>>> = std::iter::once(headers.clone())
        .chain(schemas.all_of_members(&headers))
        .collect();
    let mut properties = Vec::new();
    for keywords in members.iter().filter_map(|m| m.keywords()) {
        merge_properties(&mut properties, keywords);
    }
    properties
        .into_iter()
        .filter(|(_, schema)| holds_text(schemas, schema))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// What a message's newtype wraps, its codec, and the sentence saying why it wraps:
/// the payload's type when another message has it or it is not an object of its own,
/// raw bytes for `application/octet-stream` or a `schemaFormat` other than JSON Schema,
/// any JSON value when there is no payload schema.
fn wrapped_payload(
    m: &Message,
    payload: Option<&Ty>,
    bytes: bool,
    p: &TokenStream,
) -> (TokenStream, Codec, String) {
    if let Some(t) = payload {
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
        return (inner, codec_for(m, t), why);
    }
    match &m.payload_format {
        PayloadFormat::JsonSchema if bytes => (
            quote! { ::std::vec::Vec<u8> },
            Codec::Bytes,
            " The payload is `application/octet-stream`: carried as raw bytes.".to_owned(),
        ),
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
    }
}
