//! Parsing and validation of `#[idempotent(…)]` and of the function it is on.
//!
//! Nothing here stops at the first mistake: every problem is pushed to
//! [`Errors`] so one compile shows all of them, each on its own span.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Signature, Token};

use crate::duration::{check_lease, duration};
use crate::errors::Errors;
use crate::path::{paths, respan, KeyPath, Roots};
use crate::signature::check_signature;
use crate::suggest::{closest, list};

const ARGUMENTS: &[&str] = &[
    "key",
    "ttl",
    "lease",
    "deadline",
    "validate",
    "store",
    "name",
    "in_progress",
    "on_missing_key",
    "on_cancel",
    "crate",
];

/// The validated arguments: what the expansion needs, nothing else.
pub(crate) struct Args {
    pub(crate) key: Vec<KeyPath>,
    pub(crate) validate: Vec<KeyPath>,
    pub(crate) ttl_ms: Option<u64>,
    pub(crate) lease_ms: Option<u64>,
    pub(crate) deadline: Option<Expr>,
    pub(crate) store: Option<Expr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) in_progress: Option<InProgress>,
    pub(crate) on_missing_key: Option<OnMissingKey>,
    /// `on_cancel = "keep"`: `Some(true)`; `"release"`: `Some(false)`.
    pub(crate) keep_on_cancel: Option<bool>,
    /// `crate = "…"`, or `None` for `::idem_core`.
    pub(crate) krate: Option<Path>,
}

pub(crate) enum InProgress {
    Fail,
    Wait(Option<u64>),
}

pub(crate) enum OnMissingKey {
    Error,
    Run,
}

/// Parses the attribute's arguments and checks them, and the signature,
/// reporting every error found.
pub(crate) fn parse(args: TokenStream, sig: &Signature) -> Result<Args, syn::Error> {
    let mut errors = Errors::default();
    check_signature(sig, &mut errors);
    // A syntax error in the list hides the rest of the list, but the
    // signature's errors are still worth reporting alongside it.
    let raw = match parse_list.parse2(args) {
        Ok(raw) => raw,
        Err(syntax) => return Err(errors.and(syntax)),
    };
    let args = validate(raw, sig, &mut errors);
    errors.finish().map(|()| args)
}

/// `name = value, …` where `name` may be the keyword `crate`.
fn parse_list(input: ParseStream<'_>) -> syn::Result<Vec<(Ident, Expr)>> {
    let mut list = Vec::new();
    while !input.is_empty() {
        let name = Ident::parse_any(input)?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!("expected `{name} = …`: every argument of #[idempotent] takes a value"),
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        list.push((name, value));
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(list)
}

fn validate(raw: Vec<(Ident, Expr)>, sig: &Signature, errors: &mut Errors) -> Args {
    let mut args = Args {
        key: Vec::new(),
        validate: Vec::new(),
        ttl_ms: None,
        lease_ms: None,
        deadline: None,
        store: None,
        name: None,
        in_progress: None,
        on_missing_key: None,
        keep_on_cancel: None,
        krate: None,
    };
    let roots = Roots::of(sig);
    let mut seen: Vec<String> = Vec::new();
    let mut key_seen = false;
    let mut ttl_span = None;
    let mut lease_span = None;
    for (name, value) in raw {
        let arg = name.to_string();
        if seen.contains(&arg) {
            errors.at(name.span(), format!("duplicate argument `{arg}`"));
            continue;
        }
        seen.push(arg.clone());
        match arg.as_str() {
            "key" => {
                key_seen = true;
                if let Some(lit) = string(&value, &arg, "order.order_id", errors) {
                    args.key = paths(&lit, "key", &roots, errors);
                }
            }
            "validate" => {
                if let Some(lit) = string(&value, &arg, "order", errors) {
                    args.validate = paths(&lit, "validate", &roots, errors);
                }
            }
            "ttl" | "lease" => {
                if let Some(lit) = string(&value, &arg, "30s", errors) {
                    let ms = duration(&lit.value(), &arg, lit.span(), errors);
                    if arg == "ttl" {
                        (args.ttl_ms, ttl_span) = (ms, Some(lit.span()));
                    } else {
                        (args.lease_ms, lease_span) = (ms, Some(lit.span()));
                    }
                }
            }
            "in_progress" => {
                if let Some(lit) = string(&value, &arg, "wait(10s)", errors) {
                    args.in_progress = in_progress(&lit, errors);
                }
            }
            "on_missing_key" => {
                if let Some(lit) = string(&value, &arg, "run", errors) {
                    match lit.value().as_str() {
                        "error" => args.on_missing_key = Some(OnMissingKey::Error),
                        "run" => args.on_missing_key = Some(OnMissingKey::Run),
                        other => errors.at(
                            lit.span(),
                            format!("invalid `on_missing_key = \"{other}\"`: expected \"error\" or \"run\""),
                        ),
                    }
                }
            }
            "on_cancel" => {
                if let Some(lit) = string(&value, &arg, "keep", errors) {
                    match lit.value().as_str() {
                        "release" => args.keep_on_cancel = Some(false),
                        "keep" => args.keep_on_cancel = Some(true),
                        other => errors.at(
                            lit.span(),
                            format!("invalid `on_cancel = \"{other}\"`: expected \"release\" or \"keep\""),
                        ),
                    }
                }
            }
            "name" => {
                if let Some(lit) = string(&value, &arg, "billing::charge", errors) {
                    if lit.value().trim().is_empty() {
                        errors.at(
                            lit.span(),
                            "`name` must not be empty: it namespaces the stored records",
                        );
                    } else {
                        args.name = Some(lit);
                    }
                }
            }
            "crate" => {
                if let Some(lit) = string(&value, &arg, "idem_core", errors) {
                    match lit.value().parse::<TokenStream>().map_err(|e| syn::Error::new(lit.span(), e)).and_then(|ts| Path::parse_mod_style.parse2(respan(ts, lit.span()))) {
                        Ok(path) => args.krate = Some(path),
                        Err(_) => errors.at(
                            lit.span(),
                            format!("`crate = \"{}\"` is not a path: expected the runtime crate's path, like \"idem_core\"", lit.value()),
                        ),
                    }
                }
            }
            // Key paths are strings because they are parsed and checked against
            // the parameters; these two are ordinary expressions, so a string
            // here is a mistake worth naming.
            "store" | "deadline" => match &value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) => errors.at(
                    lit.span(),
                    format!(
                        "`{arg}` takes an expression, not a string: write `{arg} = {}`",
                        lit.value()
                    ),
                ),
                _ if arg == "store" => args.store = Some(value),
                _ => args.deadline = Some(value),
            },
            _ => {
                let hint = closest(&arg, ARGUMENTS.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                errors.at(
                    name.span(),
                    format!(
                        "unknown argument `{arg}`{hint}\nexpected one of: {}",
                        list(ARGUMENTS.iter())
                    ),
                );
            }
        }
    }
    if !key_seen {
        errors.at(
            Span::call_site(),
            "missing `key`: say what identifies a request, e.g. #[idempotent(key = \"order.order_id\")]",
        );
    }
    check_lease((args.ttl_ms, ttl_span), (args.lease_ms, lease_span), errors);
    args
}

/// The value as a string literal, or an error showing the expected form.
fn string(value: &Expr, arg: &str, example: &str, errors: &mut Errors) -> Option<LitStr> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = value
    {
        return Some(lit.clone());
    }
    errors.at(
        value.span(),
        format!("expected a string literal: `{arg} = \"{example}\"`"),
    );
    None
}

fn in_progress(lit: &LitStr, errors: &mut Errors) -> Option<InProgress> {
    let value = lit.value();
    let value = value.trim();
    match value {
        "fail" => return Some(InProgress::Fail),
        "wait" => return Some(InProgress::Wait(None)),
        _ => {}
    }
    if let Some(inner) = value
        .strip_prefix("wait(")
        .and_then(|v| v.strip_suffix(')'))
    {
        return duration(
            inner.trim(),
            "in_progress = \"wait(…)\"",
            lit.span(),
            errors,
        )
        .map(|ms| InProgress::Wait(Some(ms)));
    }
    errors.at(
        lit.span(),
        format!("invalid `in_progress = \"{value}\"`: expected \"fail\", \"wait\" or \"wait(<duration>)\" like \"wait(10s)\""),
    );
    None
}
