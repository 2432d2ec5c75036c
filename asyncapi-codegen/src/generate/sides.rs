//! `Application` and its mirror `Client`: sends, consumer, topics.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::naming::{channel_type_name, server_const_names};
use super::Generator;
use crate::broker::{self, Side, TopicNeed, TopicRole};
use crate::ir::{Channel, Operation, Reply, TopicBinding};
use crate::types::field_ident_text;

/// What one side does on the document's channels.
struct SideChannels {
    /// `send_<channel>` and `enqueue_<channel>` of the channels it sends on.
    methods: Vec<TokenStream>,
    /// Its `Sends<C>` and `Receives<C>` impls.
    impls: Vec<TokenStream>,
    sends: Vec<String>,
    /// Channels it consumes (and dead-letters) records of.
    receives: Vec<String>,
    /// Reply channels of the requests it sends: read by its requester, not a consumer.
    reply_receives: Vec<String>,
    /// It sends requests: it has a requester.
    requests: bool,
}

impl Generator<'_> {
    /// The application the document describes, and a client of it (the mirror image).
    pub(super) fn sides(&self) -> TokenStream {
        let mut out = TokenStream::new();
        for side in [Side::Application, Side::Client] {
            out.extend(self.side(side));
        }
        out
    }

    /// The struct of one side, its constants, constructors and send methods.
    fn side(&self, side: Side) -> TokenStream {
        let rt = &self.rt;
        let ident = format_ident!("{}", side.type_name());
        let channels = self.side_channels(&ident, side);
        let sends_doc = list_doc("Sends on", &channels.sends);
        let all_receives = [channels.receives.as_slice(), &channels.reply_receives].concat();
        let receives_doc = list_doc("Receives from", &all_receives);
        let head = if side == Side::Client {
            format!(" A client of {}: the mirror image of [`Application`], it sends what the application receives and receives what it sends.", self.doc.title)
        } else {
            format!(" The application described by {}.", self.doc.title)
        };
        let constants = self.side_constants(side, &channels);
        let client_id = self.side_client_id(side);
        let connect = self.side_constructors(channels.requests, client_id);
        let requester_field = channels.requests.then(|| {
            quote! {
                /// Sends this side's requests and reads their replies.
                requester: #rt::Requester<Self>,
            }
        });
        let requester_accessor = channels.requests.then(|| {
            quote! {
                /// The requester this side's `request_*` methods use (its count of
                /// late replies, for monitoring).
                pub fn requester(&self) -> &#rt::Requester<Self> {
                    &self.requester
                }
            }
        });
        let SideChannels { methods, impls, .. } = channels;
        quote! {
            #[doc = #head]
            #[doc = ""]
            #[doc = #sends_doc]
            #[doc = #receives_doc]
            pub struct #ident {
                producer: #rt::Producer<Self>,
                config: #rt::KafkaConfig,
                #requester_field
            }

            impl #ident {
                #constants
                #connect

                /// The producer this side sends with: it only sends on the channels
                /// in [`SENDS`](Self::SENDS).
                pub fn producer(&self) -> &#rt::Producer<Self> {
                    &self.producer
                }

                /// The configuration this side was built with.
                pub fn config(&self) -> &#rt::KafkaConfig {
                    &self.config
                }

                #requester_accessor

                /// A consumer for the channels this side receives from: register
                /// `#[event_listener]` handlers with `listen`, or take typed streams with `subscribe`.
                pub fn consumer(&self) -> #rt::Consumer<Self> {
                    #rt::Consumer::new(self.config.clone()).side::<Self>()
                }

                #(#methods)*
            }
            #(#impls)*
        }
    }

    /// A side's lists: channels, topics, dead-letter topics and the specs to create
    /// them with.
    fn side_constants(&self, side: Side, channels: &SideChannels) -> TokenStream {
        let rt = &self.rt;
        let needs = broker::needs(self.doc, side);
        let names = |role: TopicRole| -> Vec<&str> {
            needs
                .topics
                .iter()
                .filter(|t| t.role == role)
                .map(|t| t.name.as_str())
                .collect()
        };
        let (topics, dead_letters) = (names(TopicRole::Channel), names(TopicRole::DeadLetter));
        let specs = needs.topics.iter().map(|t| self.topic_spec(t));
        let sends = &channels.sends;
        let receives = [channels.receives.as_slice(), &channels.reply_receives].concat();
        quote! {
            /// Channels this side sends on.
            pub const SENDS: &'static [&'static str] = &[#(#sends),*];
            /// Channels this side receives from.
            pub const RECEIVES: &'static [&'static str] = &[#(#receives),*];
            /// Kafka topics of this side's channels that have no parameters.
            pub const TOPICS: &'static [&'static str] = &[#(#topics),*];
            /// The default dead-letter topics (`<topic>.dlq`) of the topics in
            /// [`TOPICS`](Self::TOPICS) this side receives from.
            pub const DEAD_LETTER_TOPICS: &'static [&'static str] = &[#(#dead_letters),*];
            /// [`TOPICS`](Self::TOPICS) and [`DEAD_LETTER_TOPICS`](Self::DEAD_LETTER_TOPICS)
            /// with the partitions, replicas and topic configs of each channel's Kafka
            /// binding: what `ensure_topics` and `EmbeddedKafka::create_topics` create.
            pub const TOPIC_SPECS: &'static [#rt::TopicSpec<'static>] = &[#(#specs),*];
        }
    }

    /// The `TopicSpec` of a topic the side needs.
    fn topic_spec(&self, topic: &TopicNeed) -> TokenStream {
        let rt = &self.rt;
        let name = &topic.name;
        if topic.binding == TopicBinding::default() {
            return quote! { #rt::TopicSpec::named(#name) };
        }
        let opt = |n: Option<i32>| match n {
            Some(n) => quote! { ::std::option::Option::Some(#n) },
            None => quote! { ::std::option::Option::None },
        };
        let binding = &topic.binding;
        let (partitions, replicas) = (opt(binding.partitions), opt(binding.replicas));
        let config = binding.config.iter().map(|(k, v)| quote! { (#k, #v) });
        quote! {
            #rt::TopicSpec { name: #name, partitions: #partitions, replicas: #replicas, config: &[#(#config),*] }
        }
    }

    /// `new`, `for_server`, `from_env` and `ensure_topics`.
    fn side_constructors(&self, requests: bool, client_id: Option<&str>) -> TokenStream {
        let rt = &self.rt;
        let from_env_config = self.env_config_tokens();
        let client_id = super::naming::opt_str(&client_id.map(str::to_owned));
        let requester = requests.then(|| {
            quote! { requester: #rt::Requester::new(::std::clone::Clone::clone(&config)).side::<Self>(), }
        });
        quote! {
            /// Connects with `config`.
            pub fn new(config: #rt::KafkaConfig) -> ::std::result::Result<Self, #rt::ConfigError> {
                let producer = #rt::Producer::new(&#rt::producer_config(&config, #client_id))?.side::<Self>();
                ::std::result::Result::Ok(Self { producer, #requester config })
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

            /// Creates [`TOPIC_SPECS`](Self::TOPIC_SPECS) where they do not exist yet:
            /// with the partitions, replicas and configs of the document's Kafka
            /// bindings, and `partitions` partitions where a binding gives none.
            /// Channels with parameters are skipped: their topics depend on values.
            /// Returns the topics it created.
            pub async fn ensure_topics(&self, partitions: i32) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, #rt::AdminError> {
                #rt::ensure_topics(&self.config, Self::TOPIC_SPECS, partitions).await
            }
        }
    }

    /// Sorts the document's operations into what `ident` sends and receives: a client
    /// sends what the application receives.
    fn side_channels(&self, ident: &proc_macro2::Ident, side: Side) -> SideChannels {
        let rt = &self.rt;
        let mut lists = SideChannels {
            methods: Vec::new(),
            impls: Vec::new(),
            sends: Vec::new(),
            receives: Vec::new(),
            reply_receives: Vec::new(),
            requests: false,
        };
        let mut done: HashSet<(usize, bool)> = HashSet::new();
        for op in &self.doc.operations {
            let c = &self.doc.channels[op.channel];
            if c.topic.is_err() {
                continue;
            }
            let sending = side.sends(op);
            if !done.insert((op.channel, sending)) {
                continue;
            }
            let ch = format_ident!("{}", channel_type_name(c));
            if sending {
                lists.sends.push(c.id.clone());
                lists
                    .impls
                    .push(quote! { impl #rt::Sends<channels::#ch> for #ident {} });
                lists.methods.push(self.send_methods(op, c));
            } else {
                lists.receives.push(c.id.clone());
                let impl_body = match self.received_subset(op.channel, side) {
                    Some(names) => quote! {
                        const MESSAGES: ::std::option::Option<&'static [&'static str]> =
                            ::std::option::Option::Some(&[#(#names),*]);
                    },
                    None => quote! {},
                };
                lists
                    .impls
                    .push(quote! { impl #rt::Receives<channels::#ch> for #ident { #impl_body } });
            }
        }
        // After every operation's own channel, so an operation that also sends on a
        // reply channel keeps its send methods.
        for (op, reply) in self.request_operations() {
            let sending = side.sends(op);
            self.reply_side(&mut lists, &mut done, ident, op, reply, sending);
        }
        lists
    }

    /// The names of the messages `side` receives on channel `index`, when its
    /// operations there list only some of the channel's messages and a record's message
    /// is known for sure: `None` (every message accepted) when they cover them all, when
    /// the side also sends on the channel or it carries replies (its own records or
    /// replies would be refused), when the channel's enum finds a record's message by
    /// trying each in turn (an earlier one may take a later one's record), or when two
    /// of its messages share a name.
    fn received_subset(&self, index: usize, side: Side) -> Option<Vec<&str>> {
        if !self.distinct_messages.contains(&index) {
            return None;
        }
        let mut received = HashSet::new();
        for op in self.doc.operations.iter().filter(|op| op.channel == index) {
            if side.sends(op) || op.messages.is_empty() {
                return None;
            }
            received.extend(op.messages.iter().copied());
        }
        let carries_replies = self.doc.operations.iter().any(|op| {
            op.reply
                .as_ref()
                .is_some_and(|reply| reply.channel == index)
        });
        let messages = &self.doc.channels[index].messages;
        let names: HashSet<&str> = messages
            .iter()
            .map(|&m| self.doc.messages[m].name.as_str())
            .collect();
        let all_received = messages.iter().all(|m| received.contains(m));
        if carries_replies || names.len() < messages.len() || all_received {
            return None;
        }
        let listed = messages.iter().filter(|m| received.contains(*m));
        Some(
            listed
                .map(|&m| self.doc.messages[m].name.as_str())
                .collect(),
        )
    }

    /// What a side does with the reply channel of operation `op`: the side sending the
    /// requests receives the replies (and gets request methods), the other sends them.
    fn reply_side(
        &self,
        side: &mut SideChannels,
        done: &mut HashSet<(usize, bool)>,
        ident: &proc_macro2::Ident,
        op: &Operation,
        reply: &Reply,
        requesting: bool,
    ) {
        let rt = &self.rt;
        let (c, r) = (
            &self.doc.channels[op.channel],
            &self.doc.channels[reply.channel],
        );
        // Channels without a topic have no client (see `validate::topic`); a reply
        // channel whose topic the requester names needs none.
        let reply_topic_needed = !self.doc.topic_named_by_requesters(reply.channel);
        if c.topic.is_err() || (r.topic.is_err() && reply_topic_needed) {
            return;
        }
        let request_ch = format_ident!("{}", channel_type_name(c));
        if requesting {
            let methods = self.request_methods(op, reply);
            side.requests |= !methods.is_empty();
            side.methods.push(methods);
            side.impls
                .push(quote! { impl #rt::Requests<channels::#request_ch> for #ident {} });
        } else {
            side.impls
                .push(quote! { impl #rt::Replies<channels::#request_ch> for #ident {} });
        }
        if !done.insert((reply.channel, !requesting)) {
            return;
        }
        let ch = format_ident!("{}", channel_type_name(r));
        if requesting {
            side.reply_receives.push(r.id.clone());
            side.impls
                .push(quote! { impl #rt::Receives<channels::#ch> for #ident {} });
        } else {
            side.sends.push(r.id.clone());
            side.impls
                .push(quote! { impl #rt::Sends<channels::#ch> for #ident {} });
        }
    }

    /// `send_<channel>` and `enqueue_<channel>` for operation `op` on channel `c`.
    fn send_methods(&self, op: &Operation, c: &Channel) -> TokenStream {
        let rt = &self.rt;
        let ch = format_ident!("{}", channel_type_name(c));
        let fname = format_ident!("send_{}", field_ident_text(&c.id));
        let msg_ty = &self.channel_messages[op.channel];
        let ename = format_ident!("enqueue_{}", field_ident_text(&c.id));
        let doc = format!(
            " Sends a message on channel `{}` and waits for the broker's acknowledgement.",
            c.id
        );
        let op_doc = op
            .summary
            .as_deref()
            .or(op.description.as_deref())
            .map(|s| format!(" Operation `{}`: {}", op.id, s))
            .unwrap_or_else(|| format!(" Operation `{}`.", op.id));
        let edoc = format!(" Queues a message on channel `{}` with a key, headers or parameters: the first `.await` waits for room in the producer's queue, the `DeliveryFuture` it returns for the broker's acknowledgement. Many sends may be in flight at once.", c.id);
        let (args, uses) = self.send_arguments(op.channel, c);
        quote! {
            #[doc = #doc]
            #[doc = ""]
            #[doc = #op_doc]
            pub async fn #fname(&self, #args message: &#msg_ty) -> ::std::result::Result<#rt::Delivery, #rt::SendError> {
                self.producer.send::<channels::#ch>(#rt::Outgoing::new(message) #uses).await
            }
            #[doc = #edoc]
            pub async fn #ename(&self, outgoing: #rt::Outgoing<'_, channels::#ch>) -> ::std::result::Result<#rt::DeliveryFuture, #rt::SendError> {
                self.producer.enqueue::<channels::#ch>(outgoing).await
            }
        }
    }

    /// The arguments a send on channel `index` takes besides the message, and the
    /// `Outgoing` calls that use them: parameters when the channel has some, the typed
    /// key and headers when its messages declare them (so a header the document
    /// requires cannot be left out: its field must be given).
    pub(super) fn send_arguments(&self, index: usize, c: &Channel) -> (TokenStream, TokenStream) {
        let (mut args, mut uses) = (TokenStream::new(), TokenStream::new());
        if !c.parameters.is_empty() {
            let pt = format_ident!("{}", self.items_of(c).parameters.1);
            args.extend(quote! { parameters: &channels::#pt, });
            uses.extend(quote! { .parameters(parameters) });
        }
        let envelope = &self.channel_envelopes[index];
        if let Some(key) = &envelope.key {
            args.extend(quote! { key: &#key, });
            uses.extend(quote! { .key(key) });
        }
        if let Some(headers) = &envelope.headers {
            args.extend(quote! { headers: &#headers, });
            uses.extend(quote! { .headers(headers) });
        }
        (args, uses)
    }

    /// The `clientId` binding of the first operation the application sends with; the
    /// mirrored client is another program and names itself.
    fn side_client_id(&self, side: Side) -> Option<&str> {
        if side == Side::Client {
            return None;
        }
        self.doc
            .operations
            .iter()
            .filter(|op| side.sends(op))
            .find_map(|op| op.client_id.as_deref())
    }

    /// How `from_env` builds its configuration: a document server brings its security
    /// schemes along, as in `for_server`.
    fn env_config_tokens(&self) -> TokenStream {
        let rt = &self.rt;
        let const_names = server_const_names(&self.doc.servers);
        let default_server = self
            .doc
            .servers
            .iter()
            .zip(&const_names)
            .find(|(s, _)| s.protocol.starts_with("kafka"))
            .map(|(_, name)| format_ident!("{}", name));
        match default_server {
            Some(s) => quote! {
                #rt::KafkaConfig::from_env_or_server(::std::option::Option::Some(&servers::#s))?
                    .security_for_server(&servers::#s, servers::SECURITY_SCHEMES)?
            },
            None => {
                quote! { #rt::KafkaConfig::from_env_or_server(::std::option::Option::None)? }
            }
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
