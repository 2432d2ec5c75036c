//! Request/reply from the 3.x operation `reply`: the `Request` impl of each request
//! channel, and the `request_<channel>` methods of the side that sends requests.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::naming::channel_type_name;
use super::Generator;
use crate::ir::{Channel, Operation, Reply, ReplyAddressing};
use crate::normalize::header_of_location;

/// The header correlation ids travel in when the document names none.
const DEFAULT_CORRELATION_HEADER: &str = "correlation-id";

impl Generator<'_> {
    /// The operations whose messages are requests ([`crate::ir::Document::request_operations`]).
    pub(super) fn request_operations(&self) -> Vec<(&Operation, &Reply)> {
        self.doc.request_operations()
    }

    /// `impl Request` for every channel that an operation with a `reply` works on.
    pub(super) fn request_impls(&self) -> Vec<TokenStream> {
        let rt = &self.rt;
        let mut impls = Vec::new();
        for (op, reply) in self.request_operations() {
            let c = &self.doc.channels[op.channel];
            let ch = format_ident!("{}", channel_type_name(c));
            let reply_ch =
                format_ident!("{}", channel_type_name(&self.doc.channels[reply.channel]));
            let correlation = self.correlation_header(c);
            let reply_to = match &reply.reply_to_header {
                Some(h) => quote! { ::std::option::Option::Some(#h) },
                None => quote! { ::std::option::Option::None },
            };
            impls.push(quote! {
                impl #rt::Request for #ch {
                    type Reply = #reply_ch;
                    const CORRELATION_HEADER: &'static str = #correlation;
                    const REPLY_TO_HEADER: ::std::option::Option<&'static str> = #reply_to;
                }
            });
        }
        impls
    }

    /// The header of the first message of `c` whose `correlationId` is a header.
    fn correlation_header(&self, c: &Channel) -> String {
        c.messages
            .iter()
            .filter_map(|&m| self.doc.messages[m].correlation_id.as_deref())
            .find_map(header_of_location)
            .unwrap_or_else(|| DEFAULT_CORRELATION_HEADER.to_owned())
    }

    /// `request_<channel>` and `request_<channel>_with` for operation `op`, whose
    /// requests this side sends. The reply topic's parameters are the request's of the
    /// same names; failing that, where the reply has an address the requester fills in,
    /// the methods take the reply channel's parameters; with neither, no reply could be
    /// addressed and there are no methods (`validate` warns).
    pub(super) fn request_methods(&self, op: &Operation, reply: &Reply) -> TokenStream {
        let c = &self.doc.channels[op.channel];
        let r = &self.doc.channels[reply.channel];
        let reply_parameters_ty = match reply.addressing(c, &self.doc.channels) {
            ReplyAddressing::FromRequest => None,
            ReplyAddressing::ChosenByRequester => {
                Some(format_ident!("{}", self.items_of(r).parameters.1))
            }
            _ => return quote! {},
        };
        let ch = format_ident!("{}", channel_type_name(c));
        let request_ty = &self.channel_messages[op.channel];
        let reply_ty = &self.channel_messages[reply.channel];
        let requests: Vec<usize> = self
            .request_operations()
            .iter()
            .map(|(op, _)| op.channel)
            .collect();
        let names = super::naming::request_method_names(&self.doc.channels, &requests);
        // `op` is one of the request operations: its channel is among `requests`.
        let Some((name, with)) = requests
            .iter()
            .zip(&names)
            .find(|(channel, _)| **channel == op.channel)
            .map(|(_, (name, with))| (format_ident!("{}", name), format_ident!("{}", with)))
        else {
            return quote! {};
        };
        let mut doc = format!(
            " Sends a request on channel `{}` (operation `{}`) and waits for its reply on `{}`, for at most 30 s (the runtime's `DEFAULT_REQUEST_TIMEOUT`).",
            c.id, op.id, r.id
        );
        let with_doc = format!(
            " [`{name}`](Self::{name}) with a key, headers or parameters, and its own time limit."
        );
        if reply_parameters_ty.is_some() {
            doc.push_str(&format!(
                " The reply comes to the topic of `{}` that `reply_parameters` name.",
                r.id
            ));
        }
        let (param_arg, param_use) = self.send_arguments(op.channel, c);
        let rt = &self.rt;
        let reply_argument = ReplyArgument::new(reply_parameters_ty.as_ref());
        let ReplyArgument {
            last_parameter,
            parameter,
            passed,
            requester_method,
        } = &reply_argument;
        quote! {
            #[doc = #doc]
            pub async fn #name(&self, #param_arg message: &#request_ty #last_parameter) -> ::std::result::Result<#reply_ty, #rt::RequestError> {
                self.#with(#rt::Outgoing::new(message) #param_use, #passed #rt::DEFAULT_REQUEST_TIMEOUT).await
            }
            #[doc = #with_doc]
            pub async fn #with(&self, outgoing: #rt::Outgoing<'_, channels::#ch>, #parameter timeout: ::std::time::Duration) -> ::std::result::Result<#reply_ty, #rt::RequestError> {
                self.requester.#requester_method::<channels::#ch>(&self.producer, outgoing, #passed timeout).await
            }
        }
    }
}

/// How the request methods take the reply channel's parameters, when the requester
/// chooses them: the tokens of each place they appear.
struct ReplyArgument {
    /// After the message in `request_<channel>`: `, reply_parameters: &P`.
    last_parameter: TokenStream,
    /// Before the time limit in `request_<channel>_with`: `reply_parameters: &P,`.
    parameter: TokenStream,
    /// Handed on to the next call: `reply_parameters,`.
    passed: TokenStream,
    /// The `Requester` method that sends the request.
    requester_method: TokenStream,
}

impl ReplyArgument {
    /// `reply_parameters_ty`: the reply channel's parameters type, if the requester
    /// chooses them.
    fn new(reply_parameters_ty: Option<&proc_macro2::Ident>) -> Self {
        match reply_parameters_ty {
            None => ReplyArgument {
                last_parameter: quote! {},
                parameter: quote! {},
                passed: quote! {},
                requester_method: quote! { request },
            },
            Some(ty) => ReplyArgument {
                last_parameter: quote! { , reply_parameters: &channels::#ty },
                parameter: quote! { reply_parameters: &channels::#ty, },
                passed: quote! { reply_parameters, },
                requester_method: quote! { request_replying_to },
            },
        }
    }
}
