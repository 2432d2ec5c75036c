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
            // Said only where it holds (the trait's default is `false`).
            let named_by_requester = (reply.addressing(c, &self.doc.channels)
                == ReplyAddressing::TopicChosenByRequester)
                .then(|| quote! { const REPLY_TOPIC_NAMED_BY_REQUESTER: bool = true; });
            let reply_to = match &reply.reply_to_header {
                Some(h) => quote! { ::std::option::Option::Some(#h) },
                None => quote! { ::std::option::Option::None },
            };
            impls.push(quote! {
                impl #rt::Request for #ch {
                    type Reply = #reply_ch;
                    const CORRELATION_HEADER: &'static str = #correlation;
                    const REPLY_TO_HEADER: ::std::option::Option<&'static str> = #reply_to;
                    #named_by_requester
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
        let reply_argument = match reply.addressing(c, &self.doc.channels) {
            ReplyAddressing::FromRequest => ReplyArgument::Nothing,
            ReplyAddressing::ChosenByRequester => {
                ReplyArgument::Parameters(format_ident!("{}", self.items_of(r).parameters.1))
            }
            ReplyAddressing::TopicChosenByRequester => ReplyArgument::Topic,
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
        doc.push_str(&reply_argument.doc(&r.id));
        let (param_arg, param_use) = self.send_arguments(op.channel, c);
        let rt = &self.rt;
        // The argument's place after the message, before the time limit, and handed on.
        let (last_parameter, parameter, passed) = match reply_argument.argument() {
            Some((declaration, name)) => (
                quote! { , #declaration },
                quote! { #declaration, },
                quote! { #name, },
            ),
            None => (quote! {}, quote! {}, quote! {}),
        };
        let requester_method = reply_argument.requester_method();
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

/// What the request methods take to name the reply topic, when the requester names
/// it.
enum ReplyArgument {
    /// Nothing: the reply topic follows from the request.
    Nothing,
    /// The reply channel's parameters, of type `channels::<ty>`.
    Parameters(proc_macro2::Ident),
    /// The whole reply topic (the reply channel names none).
    Topic,
}

impl ReplyArgument {
    /// The argument's declaration (`reply_parameters: &channels::P`) and name.
    fn argument(&self) -> Option<(TokenStream, proc_macro2::Ident)> {
        match self {
            ReplyArgument::Nothing => None,
            ReplyArgument::Parameters(ty) => Some((
                quote! { reply_parameters: &channels::#ty },
                format_ident!("reply_parameters"),
            )),
            ReplyArgument::Topic => {
                Some((quote! { reply_topic: &str }, format_ident!("reply_topic")))
            }
        }
    }

    /// The `Requester` method that sends the request.
    fn requester_method(&self) -> TokenStream {
        match self {
            ReplyArgument::Nothing => quote! { request },
            ReplyArgument::Parameters(_) => quote! { request_replying_to },
            ReplyArgument::Topic => quote! { request_on_topic },
        }
    }

    /// What `request_<channel>`'s doc adds about the reply topic (reply channel `reply`).
    fn doc(&self, reply: &str) -> String {
        match self {
            ReplyArgument::Nothing => String::new(),
            ReplyArgument::Parameters(_) => {
                format!(" The reply comes to the topic of `{reply}` that `reply_parameters` name.")
            }
            ReplyArgument::Topic => format!(
                " The reply comes to `reply_topic` (channel `{reply}` has no address: the requester names it; the topic must exist on Kafka)."
            ),
        }
    }
}
