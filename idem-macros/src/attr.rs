//! Parsing and validation of `#[idempotent(…)]` and of the function it is on.
//!
//! Nothing here stops at the first mistake: every problem is pushed to
//! [`Errors`] so one compile shows all of them, each on its own span.

use std::fmt::Display;

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Expr, ExprLit, FnArg, Ident, Lit, LitStr, Pat, Path, ReturnType, Signature, Token, Type,
};

/// Must match `idem_core::DEFAULT_TTL` (the pass tests check that it does).
const DEFAULT_TTL_MS: u64 = 3_600_000;
/// Must match `idem_core::DEFAULT_LEASE`.
const DEFAULT_LEASE_MS: u64 = 300_000;

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

const DURATION_HELP: &str =
    "write numbers with units `ms`, `s`, `m`, `h`, `d`, e.g. \"30s\", \"15m\", \"48h\", \"7d\", \"1h30m\"";

/// Every error found so far, combined so they are reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// All errors so far followed by `last`.
    fn and(self, last: syn::Error) -> syn::Error {
        match self.0 {
            Some(mut all) => {
                all.combine(last);
                all
            }
            None => last,
        }
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

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

/// One comma-separated part of `key` or `validate`.
pub(crate) struct KeyPath {
    /// As written, trimmed: the part's name in `Error::MissingKey`.
    pub(crate) text: String,
    /// The path as an expression, every token on the string literal's span,
    /// so that rustc's own errors (no such field) point at the string.
    pub(crate) expr: Expr,
    pub(crate) span: Span,
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
                    match respanned(&lit.value(), lit.span()).and_then(|ts| Path::parse_mod_style.parse2(ts)) {
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
    check_lease(&args, ttl_span, lease_span, errors);
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

/// The names a key path may start with.
struct Roots {
    fn_name: String,
    has_self: bool,
    params: Vec<String>,
}

impl Roots {
    fn of(sig: &Signature) -> Self {
        let mut roots = Roots {
            fn_name: sig.ident.to_string(),
            has_self: false,
            params: Vec::new(),
        };
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => roots.has_self = true,
                FnArg::Typed(typed) => {
                    if let Pat::Ident(pat) = &*typed.pat {
                        roots.params.push(pat.ident.unraw().to_string());
                    }
                }
            }
        }
        roots
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        self.has_self
            .then_some("self")
            .into_iter()
            .chain(self.params.iter().map(String::as_str))
    }

    fn contains(&self, name: &str) -> bool {
        self.all().any(|r| r == name)
    }

    fn unknown(&self, root: &str, what: &str) -> String {
        let name = &self.fn_name;
        if root == "self" {
            return format!("`self` in `{what}`, but `{name}` is not a method");
        }
        let params: Vec<&str> = self.all().collect();
        if params.is_empty() {
            return format!(
                "`{root}` in `{what}` is not a parameter: `{name}` has no parameters to key on"
            );
        }
        let hint = closest(root, params.iter().copied())
            .map(|c| format!("\ndid you mean `{c}`?"))
            .unwrap_or_default();
        format!(
            "`{root}` in `{what}` is not a parameter of `{name}`\nthe parameters are: {}{hint}",
            list(params.iter())
        )
    }
}

/// `"a.b, c"` → one [`KeyPath`] per part, each checked to be a path rooted
/// at a parameter.
fn paths(lit: &LitStr, what: &str, roots: &Roots, errors: &mut Errors) -> Vec<KeyPath> {
    let span = lit.span();
    let value = lit.value();
    if value.trim().is_empty() {
        errors.at(
            span,
            format!("empty `{what}`: name the parameter fields that identify a request, e.g. `{what} = \"order.order_id\"`"),
        );
        return Vec::new();
    }
    let mut parsed = Vec::new();
    for part in value.split(',') {
        let text = part.trim();
        if text.is_empty() {
            errors.at(
                span,
                format!(
                    "empty part in `{what} = \"{value}\"`: parts are separated by single commas"
                ),
            );
            continue;
        }
        let expr = respanned(text, span).and_then(syn::parse2::<Expr>);
        match expr.as_ref().ok().and_then(|e| root(e).map(|r| (e, r))) {
            None => errors.at(
                span,
                format!("`{text}` in `{what}` is not a key path: expected a parameter and its fields, like `order.order_id` or `self.tenant`"),
            ),
            Some((_, root)) if !roots.contains(&root) => errors.at(span, roots.unknown(&root, what)),
            Some((expr, _)) => parsed.push(KeyPath {
                text: text.to_owned(),
                expr: expr.clone(),
                span,
            }),
        }
    }
    parsed
}

/// The parameter a field path starts at, if `expr` is `root(.field)*`.
fn root(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Field(field) if field.attrs.is_empty() => root(&field.base),
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.get_ident().map(|i| i.unraw().to_string())
        }
        _ => None,
    }
}

/// Lexes `text` with every token on `span`. On stable Rust a span cannot
/// point inside a string literal, so the whole literal is the closest.
fn respanned(text: &str, span: Span) -> syn::Result<TokenStream> {
    let tokens: TokenStream = text
        .parse()
        .map_err(|_| syn::Error::new(span, "cannot be lexed"))?;
    Ok(respan(tokens, span))
}

pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
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

/// Parses `1h30m`-style durations into milliseconds; zero is an error.
fn duration(text: &str, what: &str, span: Span, errors: &mut Errors) -> Option<u64> {
    match parse_ms(text) {
        Ok(0) => {
            errors.at(span, format!("`{what}` must be longer than zero"));
            None
        }
        Ok(ms) => Some(ms),
        Err(why) => {
            errors.at(
                span,
                format!("invalid duration \"{text}\" for `{what}`: {why}\n{DURATION_HELP}"),
            );
            None
        }
    }
}

fn parse_ms(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.contains(char::is_whitespace) {
        return Err("it contains spaces".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at \"{rest}\""));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{n}` has no unit")),
            unit => return Err(format!("unknown unit `{unit}`")),
        };
        total = n
            .checked_mul(per_unit)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "it is too long".to_owned())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `90060000` → `"1d1h1m"`, for messages.
fn human(ms: u64) -> String {
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A claim must lapse before the result it protects expires.
fn check_lease(args: &Args, ttl_span: Option<Span>, lease_span: Option<Span>, errors: &mut Errors) {
    let ttl = args.ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    let lease = args.lease_ms.unwrap_or(DEFAULT_LEASE_MS);
    // Only values that parsed are compared; a bad one was reported already.
    let parsed = |given: Option<u64>, span: Option<Span>| given.is_some() || span.is_none();
    if lease < ttl || !parsed(args.ttl_ms, ttl_span) || !parsed(args.lease_ms, lease_span) {
        return;
    }
    let (lease_h, ttl_h) = (human(lease), human(ttl));
    match (lease_span, ttl_span) {
        (Some(span), Some(_)) => errors.at(
            span,
            format!("`lease` ({lease_h}) must be shorter than `ttl` ({ttl_h})"),
        ),
        (Some(span), None) => errors.at(
            span,
            format!("`lease` ({lease_h}) must be shorter than `ttl` (default {ttl_h}); set a longer `ttl`"),
        ),
        (None, Some(span)) => errors.at(
            span,
            format!("`ttl` ({ttl_h}) must be longer than `lease` (default {lease_h}); set a shorter `lease`, e.g. `lease = \"30s\"`"),
        ),
        (None, None) => {}
    }
}

/// The function must be `async` and return something named `Result`;
/// whether that is really `Result<T, E>` with the right bounds is left to
/// rustc, through the assertions the expansion emits.
fn check_signature(sig: &Signature, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!(
                "#[idempotent] needs an `async fn`: make `{}` async",
                sig.ident
            ),
        );
    }
    match &sig.output {
        ReturnType::Default => errors.at(
            sig.paren_token.span.close(),
            format!("#[idempotent] needs a function returning `Result<T, E>`; `{}` returns `()`", sig.ident),
        ),
        ReturnType::Type(_, ty) if !is_result(ty) => errors.at(
            ty.span(),
            "#[idempotent] needs a function returning `Result<T, E>` (or an alias such as `anyhow::Result<T>`)",
        ),
        ReturnType::Type(..) => {}
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Result")
        }
        _ => false,
    }
}

/// The candidate within a small edit distance of `name`, if any.
fn closest<'c>(name: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn list<T: Display>(items: impl Iterator<Item = T>) -> String {
    items
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_ms("30s"), Ok(30_000));
        assert_eq!(parse_ms("15m"), Ok(900_000));
        assert_eq!(parse_ms("48h"), Ok(172_800_000));
        assert_eq!(parse_ms("7d"), Ok(604_800_000));
        assert_eq!(parse_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert!(parse_ms("").is_err());
        assert!(parse_ms("10").is_err());
        assert!(parse_ms("h").is_err());
        assert!(parse_ms("1 h").is_err());
        assert!(parse_ms("3w").is_err());
        assert!(parse_ms("99999999999999999999d").is_err());
        assert!(parse_ms("999999999999999d").is_err());
        assert_eq!(human(5_400_000), "1h30m");
        assert_eq!(human(90_061_001), "1d1h1m1s1ms");
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("ordr", "order"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("tll", ARGUMENTS.iter().copied()), Some("ttl"));
        assert_eq!(closest("zzzzzz", ARGUMENTS.iter().copied()), None);
    }
}
