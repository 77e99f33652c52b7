//! Code generation: the original function, its body wrapped in the
//! `Idempotent` builder chain of idem-core. Behaviour lives in idem-core;
//! what is emitted here is that chain and compile-time type assertions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, ReturnType, Signature, Type, Visibility};

use crate::attr::{self, Args, InProgress, OnMissingKey};
use crate::path::{part_expr, KeyPath};

/// A function whose body is kept as tokens, as tracing-attributes'
/// `MaybeItemFn` does: a body that does not parse yet (the user is typing)
/// still expands, so the editor sees the function and rustc reports the
/// body's own syntax error where it is.
struct MaybeItemFn {
    outer: Vec<Attribute>,
    inner: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    body: TokenStream,
}

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        syn::braced!(content in input);
        let inner = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(MaybeItemFn {
            outer,
            inner,
            vis,
            sig,
            body,
        })
    }
}

pub(crate) fn idempotent(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: MaybeItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[idempotent] goes on an `async fn` with a body, returning `Result<T, E>`",
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };
    match attr::parse(args, &func.sig) {
        Ok(args) => expand(func, &args),
        // The function as written, so the IDE and the rest of the crate
        // still see it and only the attribute's own errors are reported.
        Err(errors) => {
            let errors = errors.to_compile_error();
            quote!(#item #errors)
        }
    }
}

fn expand(func: MaybeItemFn, args: &Args) -> TokenStream {
    let MaybeItemFn {
        outer,
        inner,
        vis,
        sig,
        body,
    } = func;
    let ReturnType::Type(_, ret) = &sig.output else {
        // attr::parse rejects such signatures; emit the function as is.
        return quote!(#(#outer)* #vis #sig { #(#inner)* #body });
    };
    let private = |span: Span| private_path(args, span);
    let call = private(Span::call_site());

    // One static per function: it names the call site, so that two
    // functions ending up with one namespace fail loudly, and holds a
    // method's namespace once it is made.
    let site = quote! {
        static __IDEM_SITE: #call::Site = #call::Site::new(::core::concat!(
            ::core::file!(), ":", ::core::line!(), ":", ::core::column!()
        ));
    };
    let namespace = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let name = sig.ident.unraw().to_string();
            if sig.receiver().is_some() {
                // Methods of two types in one module must not share records.
                quote!(__IDEM_SITE.method_namespace(
                    ::core::module_path!(),
                    ::core::any::type_name::<Self>(),
                    #name,
                ))
            } else {
                quote!(::core::concat!(::core::module_path!(), "::", #name))
            }
        }
    };
    let mut chain = quote!(#call::Idempotent::new(#namespace).site(&__IDEM_SITE));
    if let Some(ms) = args.ttl_ms {
        chain.extend(quote!(.ttl(#call::Duration::from_millis(#ms))));
    }
    if let Some(ms) = args.lease_ms {
        chain.extend(quote!(.lease(#call::Duration::from_millis(#ms))));
    }
    if let Some(deadline) = &args.deadline {
        chain.extend(quote!(.deadline(#deadline)));
    }
    if let Some(policy) = &args.in_progress {
        let policy = match policy {
            InProgress::Fail => quote!(Fail),
            InProgress::Wait(None) => quote!(Wait(::core::option::Option::None)),
            InProgress::Wait(Some(ms)) => quote!(Wait(::core::option::Option::Some(
                #call::Duration::from_millis(#ms)
            ))),
        };
        chain.extend(quote!(.in_progress(#call::InProgress::#policy)));
    }
    if let Some(policy) = &args.on_missing_key {
        let policy = match policy {
            OnMissingKey::Error => quote!(Error),
            OnMissingKey::Run => quote!(Run),
        };
        chain.extend(quote!(.on_missing_key(#call::OnMissingKey::#policy)));
    }
    if let Some(keep) = args.keep_on_cancel {
        let policy = if keep { quote!(Keep) } else { quote!(Release) };
        chain.extend(quote!(.on_cancel(#call::OnCancel::#policy)));
    }
    if let Some(store) = &args.store {
        chain.extend(quote!(.store(&(#store))));
    }
    // Key parts are hashed here, by reference, before the body may move
    // the arguments. Their tokens carry the key string's span, so a missing
    // field or a part that is not `Serialize` is reported on the string.
    // `json(…)` texts: one parse per call, shared by the parts that read it.
    let mut json_texts: Vec<String> = Vec::new();
    for part in args.key.iter().chain(&args.validate) {
        if let Some(text) = part.json_text() {
            if !json_texts.contains(&text) {
                json_texts.push(text);
            }
        }
    }
    let json_cache = |part: &KeyPath| {
        let text = part.json_text().unwrap_or_default();
        let n = json_texts.iter().position(|t| *t == text).unwrap_or(0);
        syn::Ident::new(&format!("__idem_json_{n}"), Span::call_site())
    };
    let json_locals = (0..json_texts.len()).map(|n| {
        let ident = syn::Ident::new(&format!("__idem_json_{n}"), Span::call_site());
        quote!(let #ident = #call::JsonOnce::new();)
    });
    let json_locals = quote!(#(#json_locals)*);
    for part in &args.key {
        let (text, span) = (&part.text, part.span);
        let private = private(span);
        let expr = part_expr(part, &private, &json_cache);
        chain.extend(quote_spanned!(span=> .key(#text, #private::key_part(#expr))));
    }
    for part in &args.validate {
        let span = part.span;
        let private = private(span);
        let expr = part_expr(part, &private, &json_cache);
        chain.extend(quote_spanned!(span=> .validate(#private::key_part(#expr))));
    }

    // The assertion and `.run` share one span, the return type's: a result
    // or error type without the required traits is reported there with
    // idem-core's message, and rustc drops `run`'s identical errors as
    // duplicates at the same span.
    let ret_span = type_span(ret);
    let assert = {
        let private = private(ret_span);
        quote_spanned!(ret_span=>
            #private::assert_return(::core::marker::PhantomData::<#ret>);
        )
    };
    // A return edge of the declared type (never taken), as in
    // tracing-attributes: the body is checked against the function's own
    // return type, so type errors and `?` conversions are reported in the
    // user's code.
    let fake_return = quote! {
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __idem_fake_return: #ret = loop {};
            return __idem_fake_return;
        }
    };
    // `run`'s bounds on `T` and `E` are blamed on the whole awaited call,
    // so it carries the return type's span too.
    let call = quote_spanned! {ret_span=>
        (#chain).run(|| async {
            #fake_return
            #body
        })
        .await
    };
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #assert
            #site
            #json_locals
            #call
        }
    }
}

/// Where type errors about the return type go: the `Result` of
/// `io::Result<u64>`. On stable Rust a span cannot cover several tokens.
fn type_span(ty: &Type) -> Span {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| ty.span(), |segment| segment.ident.span()),
        _ => ty.span(),
    }
}

/// `::idem_core::__private` (or `<crate>::__private`), on `span`.
fn private_path(args: &Args, span: Span) -> TokenStream {
    match &args.krate {
        Some(krate) => {
            let krate = crate::path::respan(quote!(#krate), span);
            quote_spanned!(span=> #krate::__private)
        }
        None => quote_spanned!(span=> ::idem_core::__private),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        idempotent(args, item).to_string()
    }

    fn charge() -> TokenStream {
        quote! {
            async fn charge(order: &Order) -> Result<Receipt, Error> { body(order).await }
        }
    }

    #[test]
    fn expansion_is_the_builder_chain_with_only_the_given_options() {
        let out = expand(quote!(key = "order.order_id", ttl = "1h30m"), charge());
        assert!(out.contains("Idempotent :: new"), "{out}");
        assert!(
            out.contains(
                ". ttl (:: idem_core :: __private :: Duration :: from_millis (5400000u64))"
            ),
            "{out}"
        );
        assert!(out.contains(". key (\"order.order_id\""), "{out}");
        assert!(out.contains("& order . order_id"), "{out}");
        for absent in [
            ". lease",
            ". store",
            ". deadline",
            ". validate",
            ". in_progress",
            "compile_error",
        ] {
            assert!(!out.contains(absent), "{absent} in {out}");
        }
    }

    #[test]
    fn crate_override_never_names_idem_core() {
        let out = expand(
            quote!(key = "order.order_id", crate = "idem_renamed"),
            charge(),
        );
        assert!(
            out.contains("idem_renamed :: __private :: Idempotent"),
            "{out}"
        );
        assert!(!out.contains("idem_core"), "{out}");
    }

    #[test]
    fn a_wrong_attribute_still_emits_the_function_as_written() {
        let out = expand(quote!(key = "ordr", ttl = "0s"), charge());
        assert!(out.contains("async fn charge (order : & Order)"), "{out}");
        assert!(out.contains("body (order) . await"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(!out.contains("Idempotent"), "{out}");
    }

    #[test]
    fn not_a_function_is_an_error_not_a_panic() {
        let out = expand(
            quote!(key = "id"),
            quote!(
                struct Charge;
            ),
        );
        assert!(out.contains("struct Charge"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }
}
