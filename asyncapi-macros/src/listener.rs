//! `#[event_listener(channel = "...", ...)]` on an `async fn`.
//!
//! The fn stays as written (callable from unit tests); beside it goes a type of the same
//! name (types and functions live in different namespaces) that implements the runtime's
//! `Listener`, so registration is explicit and typed: `consumer.listen::<on_signup>()`.
//! Channel and message checks are delegated to the `__asyncapi_listener!` macro that
//! `asyncapi!` generates, because only it knows the document.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Meta, Path, ReturnType, Token, Type};

const OPTIONS: &str = "`channel = \"...\"` (required), `side = Application | Client`, `api = path::to::module`, `group = \"...\"`, `max_attempts = N`, `dead_letter = \"topic\"`, `concurrency = N`, `timeout_ms = N`";

#[derive(Default)]
struct Options {
    channel: Option<LitStr>,
    side: Option<syn::Ident>,
    api: Option<Path>,
    group: Option<LitStr>,
    max_attempts: Option<u32>,
    dead_letter: Option<LitStr>,
    concurrency: Option<u32>,
    timeout_ms: Option<u32>,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(error) = channel_error(&args) {
        return error;
    }
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            return with_item(
                syn::Error::new(
                    Span::call_site(),
                    "`#[event_listener]` goes on an `async fn` that handles one message",
                ),
                item,
            )
        }
    };
    match build(args, &func) {
        Ok(tokens) => tokens,
        Err(e) => with_item(e, func.into_token_stream()),
    }
}

/// `__channel_error("channel", "message", "help")`: what the document's
/// `__asyncapi_listener!` expands to for a channel the listener cannot use. The channel
/// literal still carries the span of the user's `channel = "..."`, so the error points
/// there; `{channel}` in the message is replaced by its value. The item is dropped.
fn channel_error(args: &TokenStream) -> Option<TokenStream> {
    let mut tokens = args.clone().into_iter();
    match tokens.next() {
        Some(proc_macro2::TokenTree::Ident(i)) if i == "__channel_error" => {}
        _ => return None,
    }
    let Some(proc_macro2::TokenTree::Group(g)) = tokens.next() else {
        return None;
    };
    let parsed = Punctuated::<LitStr, Token![,]>::parse_terminated
        .parse2(g.stream())
        .ok()?;
    let [channel, message, help] = parsed.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let text = format!(
        "{}; {}",
        message.value().replace("{channel}", &channel.value()),
        help.value()
    );
    Some(syn::Error::new(channel.span(), text).to_compile_error())
}

/// Re-emits the user's item beside the error so the only error is ours.
fn with_item(e: syn::Error, item: TokenStream) -> TokenStream {
    let err = e.to_compile_error();
    quote! { #err #item }
}

fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut o = Options::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let Meta::NameValue(nv) = &meta else {
            return Err(syn::Error::new(
                meta.span(),
                format!("expected `name = value`; options: {OPTIONS}"),
            ));
        };
        let name = nv
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if seen.contains(&name) {
            return Err(syn::Error::new(
                nv.path.span(),
                format!("option `{name}` is given twice"),
            ));
        }
        seen.push(name.clone());
        let value = &nv.value;
        match name.as_str() {
            "channel" => o.channel = Some(lit_str(value, "channel")?),
            "group" => {
                let g = lit_str(value, "group")?;
                if g.value().trim().is_empty() {
                    return Err(syn::Error::new(g.span(), "`group` must not be empty"));
                }
                o.group = Some(g);
            }
            "dead_letter" => {
                let t = lit_str(value, "dead_letter")?;
                let v = t.value();
                if !asyncapi_syntax::topic::is_topic_name(&v) {
                    return Err(syn::Error::new(t.span(), "`dead_letter` must be a Kafka topic name: 1 to 249 characters of [a-zA-Z0-9._-], not `.` or `..`"));
                }
                o.dead_letter = Some(t);
            }
            "max_attempts" => o.max_attempts = Some(positive(value, "max_attempts")?),
            "retries" | "max_retries" => return Err(syn::Error::new(nv.path.span(), format!("unknown option `{name}`: the number of handler calls per record, the first included, is `max_attempts = N`"))),
            "concurrency" => o.concurrency = Some(positive(value, "concurrency")?),
            "timeout_ms" => o.timeout_ms = Some(positive(value, "timeout_ms")?),
            "side" => match value {
                Expr::Path(p) if p.path.is_ident("Application") || p.path.is_ident("Client") => o.side = p.path.get_ident().cloned(),
                _ => return Err(syn::Error::new(value.span(), "`side` is `Application` (the default: the service the document describes) or `Client`")),
            },
            "api" => match value {
                Expr::Path(p) => o.api = Some(p.path.clone()),
                _ => return Err(syn::Error::new(value.span(), "`api` is the path of the module where `asyncapi!` was expanded, e.g. `api = crate::account`")),
            },
            _ => return Err(syn::Error::new(nv.path.span(), format!("unknown option `{name}`; options: {OPTIONS}"))),
        }
    }
    Ok(o)
}

fn lit_str(value: &Expr, name: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{name}` takes a string literal"),
        )),
    }
}

fn positive(value: &Expr, name: &str) -> syn::Result<u32> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(syn::Error::new(
                i.span(),
                format!("`{name}` must be a whole number of at least 1"),
            )),
        },
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{name}` takes an integer literal, e.g. `{name} = 3`"),
        )),
    }
}

/// At most this many parameters after the message: one of each kind the runtime builds
/// from a record (`MessageContext`, `Shared<T>`, `Key<K>`, `Headers<H>`).
const MAX_PARAMETERS: usize = 4;

const SIGNATURE_HELP: &str = "an event listener takes the message, then any of `MessageContext`, `Shared<AppState>`, `Key<K>` (or `Option<Key<K>>`) and `Headers<H>`, each at most once";

/// The parts of the listener's signature the expansion reads.
struct Signature {
    message: Type,
    /// The types of the parameters after the message, in order.
    parameters: Vec<Type>,
    returns: Returns,
}

fn build(args: TokenStream, func: &ItemFn) -> syn::Result<TokenStream> {
    let o = parse_options(args)?;
    let Some(channel) = o.channel.clone() else {
        return Err(syn::Error::new(Span::call_site(), "`#[event_listener]` needs the channel it handles: `#[event_listener(channel = \"user/signup\")]`"));
    };
    let signature = check_signature(&func.sig)?;
    let fn_name = &func.sig.ident;
    let vis = &func.vis;
    let side = o
        .side
        .clone()
        .unwrap_or_else(|| format_ident!("Application"));
    let prefix = match &o.api {
        Some(p) => quote! { #p:: },
        None => quote! {},
    };
    let rt = quote! { ::asyncapi_runtime::__private };
    let msg_ty = &signature.message;
    let call = handler_call(&rt, fn_name, &signature.parameters);
    let options = listener_options(&rt, &o, &signature.parameters);
    // The document's lookup macro refuses a reply listener on a channel without `reply`.
    // A replier reads the request's headers (its reply address) whatever the function
    // takes.
    let (kind, head, output, finish, register, reads) = match signature.returns {
        Returns::Nothing => (
            format_ident!("listener"),
            quote! { #rt::Listener },
            quote! { () },
            quote! { #rt::IntoHandlerResult::into_handler_result(#call) },
            "listen",
            reads(&rt, &signature.parameters),
        ),
        Returns::Reply => (
            format_ident!("reply_listener"),
            quote! { #rt::ReplyListener },
            quote! { <<Self::Channel as #rt::Request>::Reply as #rt::Channel>::Message },
            quote! { #rt::reply_result(#call) },
            "answer",
            quote! {},
        ),
    };
    let doc = format!(" Registers [`{fn_name}`] as the listener of channel `{}`: `consumer.{register}::<{fn_name}>()`.", channel.value());
    Ok(quote! {
        #func

        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #fn_name {
            _private: (),
        }

        // The document's macro completes the impl with the channel's marker type and the
        // message conversion (checking `#msg_ty`), or emits only an error at `#channel`.
        #prefix __asyncapi_listener! { #kind #side #channel [#prefix] #fn_name (#msg_ty) (#channel) { impl #head for #fn_name } {
            fn options() -> #rt::ListenerOptions {
                #options
            }

            #reads

            fn handle(
                message: <Self::Channel as #rt::Channel>::Message,
                context: #rt::MessageContext<<Self::Channel as #rt::Channel>::Parameters>,
            ) -> impl ::std::future::Future<Output = ::std::result::Result<#output, #rt::HandlerError>> + ::std::marker::Send {
                async move { #finish }
            }
        } }
    })
}

/// An `async fn`, not generic, taking the message and up to [`MAX_PARAMETERS`] more,
/// all by value, at most one of them state, returning what a listener may return.
fn check_signature(sig: &syn::Signature) -> syn::Result<Signature> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "an event listener must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "an event listener cannot be generic: its message type comes from the channel",
        ));
    }
    let count = sig.inputs.len();
    if count == 0 || count > MAX_PARAMETERS + 1 {
        return Err(syn::Error::new(
            if count == 0 { sig.paren_token.span.join() } else { sig.inputs.span() },
            format!("{SIGNATURE_HELP}: `async fn {}(message: M, context: MessageContext, state: Shared<AppState>)`; found {count} parameter(s)", sig.ident),
        ));
    }
    let mut types = Vec::with_capacity(count);
    for arg in &sig.inputs {
        types.push(parameter_type(arg)?);
    }
    check_distinct(&types[1..])?;
    let message = types.remove(0);
    Ok(Signature {
        message,
        parameters: types,
        returns: check_return(&sig.output)?,
    })
}

/// A parameter's type, refused for `self` and references.
fn parameter_type(arg: &FnArg) -> syn::Result<Type> {
    match arg {
        FnArg::Receiver(r) => Err(syn::Error::new(
            r.span(),
            "an event listener is a free function, not a method",
        )),
        FnArg::Typed(t) => match &*t.ty {
            Type::Reference(r) => Err(syn::Error::new(
                r.span(),
                "an event listener takes its arguments by value: remove the `&`",
            )),
            ty => Ok(ty.clone()),
        },
    }
}

/// No parameter type twice, one state at most (a consumer holds one state value, so two
/// `Shared<..>` parameters could never both be given) and the key once (`Key<K>` and
/// `Option<Key<K>>` would say both that a record must have a key and that it may not).
fn check_distinct(parameters: &[Type]) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    let mut shared = false;
    let mut key = false;
    for ty in parameters {
        if is_key(ty) && std::mem::replace(&mut key, true) {
            return Err(syn::Error::new(
                ty.span(),
                "an event listener takes the record's key once: `Key<K>` where every record has a key, or `Option<Key<K>>` where some may not",
            ));
        }
        let text = ty.to_token_stream().to_string();
        if seen.contains(&text) {
            return Err(syn::Error::new(
                ty.span(),
                format!("{SIGNATURE_HELP}: this type is taken twice"),
            ));
        }
        seen.push(text);
        let is_shared = matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Shared"));
        if is_shared && shared {
            return Err(syn::Error::new(
                ty.span(),
                "an event listener takes the consumer's state once: a consumer holds one state value (`Consumer::with_state`)",
            ));
        }
        shared |= is_shared;
    }
    Ok(())
}

/// `Key<..>` or `Option<Key<..>>`, as written (the last path segment; an alias is not
/// seen through).
fn is_key(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    if last.ident == "Key" {
        return true;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return false;
    };
    last.ident == "Option"
        && arguments
            .args
            .iter()
            .any(|argument| matches!(argument, syn::GenericArgument::Type(inner) if is_key(inner)))
}

/// `listener_options(..)` with the attribute's options and the state the parameters
/// read (checked when the consumer starts).
fn listener_options(rt: &TokenStream, o: &Options, parameters: &[Type]) -> TokenStream {
    let opt = |v: Option<TokenStream>| {
        v.map(|t| quote! { ::std::option::Option::Some(#t) })
            .unwrap_or_else(|| quote! { ::std::option::Option::None })
    };
    let group = opt(o.group.as_ref().map(|g| quote! { #g }));
    let max_attempts = opt(o.max_attempts.map(|n| quote! { #n }));
    let dead_letter = opt(o.dead_letter.as_ref().map(|t| quote! { #t }));
    let concurrency = opt(o.concurrency.map(|n| quote! { #n as usize }));
    let timeout = opt(o.timeout_ms.map(|n| quote! { #n as u64 }));
    // Spanned at each parameter's type: a type the runtime cannot build is reported there.
    let state = parameters.iter().map(|ty| {
        quote::quote_spanned! {ty.span()=>
            <#ty as #rt::FromRecord<Self::Channel>>::state_requirement()
        }
    });
    quote! {
        #rt::listener_options(#group, #max_attempts, #dead_letter, #concurrency, #timeout, &[#(#state),*])
    }
}

/// `Listener::reads`: the parts of the record (headers, key) the parameters after the
/// message are built from (the message itself is the payload).
fn reads(rt: &TokenStream, parameters: &[Type]) -> TokenStream {
    let reads = parameters.iter().map(|ty| {
        quote::quote_spanned! {ty.span()=>
            <#ty as #rt::FromRecord<Self::Channel>>::reads()
        }
    });
    quote! {
        fn reads() -> #rt::RecordParts {
            #rt::RecordParts::NONE #(.and(#reads))*
        }
    }
}

/// The call of the user's function: each parameter after the message built from the
/// record first, in order; one that cannot be built is the handler's error.
fn handler_call(rt: &TokenStream, fn_name: &syn::Ident, parameters: &[Type]) -> TokenStream {
    let names: Vec<syn::Ident> = (1..=parameters.len())
        .map(|i| format_ident!("__asyncapi_parameter_{i}"))
        .collect();
    // Spanned at each parameter's type, as in `listener_options`.
    let build = parameters.iter().zip(&names).map(|(ty, name)| {
        quote::quote_spanned! {ty.span()=>
            let #name = match <#ty as #rt::FromRecord<Self::Channel>>::from_record(&context) {
                ::std::result::Result::Ok(value) => value,
                ::std::result::Result::Err(error) => return ::std::result::Result::Err(error),
            };
        }
    });
    quote! {
        {
            #(#build)*
            let _ = &context;
            #fn_name(Self::__asyncapi_message(message) #(, #names)*).await
        }
    }
}

/// What a listener's function returns: nothing to send (`()` or `Result<(), E>`), or
/// the reply to the request it handles (`Result<Reply, E>`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Returns {
    Nothing,
    Reply,
}

/// `()` (or nothing), `Result<(), E>` or `Result<Reply, E>`, under any path
/// (`anyhow::Result<()>` too).
fn check_return(output: &ReturnType) -> syn::Result<Returns> {
    let ReturnType::Type(_, ty) = output else {
        return Ok(Returns::Nothing);
    };
    let result_ok = |p: &syn::TypePath| {
        let last = p.path.segments.last()?;
        if last.ident != "Result" {
            return None;
        }
        match &last.arguments {
            syn::PathArguments::AngleBracketed(a) => match a.args.first() {
                Some(syn::GenericArgument::Type(t)) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        }
    };
    match &**ty {
        Type::Tuple(t) if t.elems.is_empty() => Ok(Returns::Nothing),
        Type::Path(p) => match result_ok(p) {
            Some(Type::Tuple(t)) if t.elems.is_empty() => Ok(Returns::Nothing),
            Some(_) => Ok(Returns::Reply),
            None => Err(not_a_listener_return(ty)),
        },
        _ => Err(not_a_listener_return(ty)),
    }
}

fn not_a_listener_return(ty: &Type) -> syn::Error {
    syn::Error::new(ty.span(), "an event listener returns `()` or `Result<(), E>` where `E: Display` (an `Err` is retried, then dead-lettered), or `Result<Reply, E>` on a channel whose operation has a `reply`")
}
