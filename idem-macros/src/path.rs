//! Key paths: `key = "…"` and `validate = "…"` parsed into typed prefixes
//! (plain field access, checked by the compiler) and dynamic steps (`?`
//! through an `Option`, `[member]` and `[0]` into JSON, maps and sequences,
//! `json(…)` into JSON held in a string), evaluated by idem-core at run time.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Expr, FnArg, Ident, LitStr, Pat, Signature};

use crate::errors::Errors;
use crate::suggest::{closest, list};

/// One comma-separated part of `key` or `validate`.
pub(crate) struct KeyPath {
    /// As written, trimmed: the part's name in `Error::MissingKey`.
    pub(crate) text: String,
    pub(crate) span: Span,
    pub(crate) start: Start,
    /// Steps after the typed prefix; empty for a plain field path.
    pub(crate) steps: Vec<Step>,
}

pub(crate) enum Start {
    /// A parameter and its fields: `order.customer`.
    Typed(Expr),
    /// `json(order.body)`: the text at that typed path, parsed once per call.
    Json(Expr),
}

pub(crate) enum Step {
    /// `.name` or `.0`: a field, checked at compile time.
    Field(TokenStream),
    /// `?`: through an `Option`.
    Through,
    /// `[name]` or `["name"]`: a member of a JSON object or a map.
    Member(String),
    /// `[0]`: an element of a JSON array or a sequence.
    Index(usize),
}

impl KeyPath {
    /// The text inside `json(…)`, if the path starts there: parts with the
    /// same one share one parse.
    pub(crate) fn json_text(&self) -> Option<String> {
        match &self.start {
            Start::Json(expr) => Some(expr.to_token_stream().to_string()),
            Start::Typed(_) => None,
        }
    }
}

/// The names a key path may start with.
pub(crate) struct Roots {
    fn_name: String,
    /// Parameters that are patterns, not names (`(a, b): (u32, u32)`).
    destructured: usize,
    has_self: bool,
    params: Vec<String>,
}

impl Roots {
    pub(crate) fn of(sig: &Signature) -> Self {
        let mut roots = Roots {
            fn_name: sig.ident.to_string(),
            has_self: false,
            params: Vec::new(),
            destructured: 0,
        };
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => roots.has_self = true,
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) => roots.params.push(pat.ident.unraw().to_string()),
                    _ => roots.destructured += 1,
                },
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
        let message = self.unknown_root(root, what);
        if self.destructured == 0 {
            return message;
        }
        format!(
            "{message}\na destructured parameter cannot be keyed on: bind it to a name \
             (`order: Order`) and key on its fields (`order.order_id`)"
        )
    }

    fn unknown_root(&self, root: &str, what: &str) -> String {
        let name = &self.fn_name;
        if root == "self" {
            return format!("`self` in `{what}`, but `{name}` is not a method");
        }
        let params: Vec<&str> = self.all().collect();
        if params.is_empty() {
            let named = if self.destructured > 0 { " named" } else { "" };
            return format!(
                "`{root}` in `{what}` is not a parameter: `{name}` has no{named} parameters to key on"
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

/// Splits on the commas between parts, not those inside brackets or quotes.
fn split_parts(value: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

pub(crate) fn paths(lit: &LitStr, what: &str, roots: &Roots, errors: &mut Errors) -> Vec<KeyPath> {
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
    for part in split_parts(&value) {
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
        match path(text, span) {
            Err(why) => errors.at(
                span,
                format!("`{text}` in `{what}` is not a key path: {why}"),
            ),
            Ok((root, _)) if !roots.contains(&root) => errors.at(span, roots.unknown(&root, what)),
            Ok((_, key_path)) => parsed.push(key_path),
        }
    }
    parsed
}

const SHAPE: &str = "expected a parameter and its fields, like `order.order_id` or `self.tenant`, \
     with `?` after an `Option` field (`event.detail?.id`), `[name]` or `[0]` into JSON, maps \
     and sequences (`event.detail[order_id]`), or `json(…)` around a string holding JSON \
     (`json(message.body)[order_id]`)";

/// Parses one part: its root parameter and the path.
fn path(text: &str, span: Span) -> Result<(String, KeyPath), String> {
    let tokens: Vec<TokenTree> = respanned(text, span)
        .map_err(|_| SHAPE.to_owned())?
        .into_iter()
        .collect();
    let (start, root, rest) = match tokens.as_slice() {
        [TokenTree::Ident(json), TokenTree::Group(inner), rest @ ..]
            if json == "json" && inner.delimiter() == Delimiter::Parenthesis =>
        {
            let inner: Vec<TokenTree> = inner.stream().into_iter().collect();
            let (expr, root, after) = typed_prefix(&inner)?;
            if !after.is_empty() {
                return Err("inside `json(…)` goes a plain field path to the string".into());
            }
            (Start::Json(expr), root, rest)
        }
        _ => {
            let (expr, root, rest) = typed_prefix(&tokens)?;
            (Start::Typed(expr), root, rest)
        }
    };
    let steps = steps(rest, span)?;
    Ok((
        root,
        KeyPath {
            text: text.to_owned(),
            span,
            start,
            steps,
        },
    ))
}

/// `root(.field)*`, up to the first dynamic step.
fn typed_prefix(tokens: &[TokenTree]) -> Result<(Expr, String, &[TokenTree]), String> {
    let Some(TokenTree::Ident(root)) = tokens.first() else {
        return Err(SHAPE.to_owned());
    };
    let mut end = 1;
    while let [TokenTree::Punct(dot), TokenTree::Ident(_) | TokenTree::Literal(_), ..] =
        &tokens[end..]
    {
        if dot.as_char() != '.' {
            break;
        }
        end += 2;
    }
    // The fields keep the string's location but not its hygiene: rustc then
    // reports a misspelled field on the string without "fixing" it into a
    // bare identifier outside the quotes.
    let prefix: TokenStream = tokens[..end]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut t = t.clone();
            if i > 0 {
                t.set_span(t.span().resolved_at(Span::mixed_site()));
            }
            t
        })
        .collect();
    let expr = syn::parse2::<Expr>(prefix).map_err(|_| SHAPE.to_owned())?;
    Ok((expr, root.unraw().to_string(), &tokens[end..]))
}

fn steps(mut rest: &[TokenTree], span: Span) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    while !rest.is_empty() {
        match rest {
            [TokenTree::Punct(q), tail @ ..] if q.as_char() == '?' => {
                steps.push(Step::Through);
                rest = tail;
            }
            [TokenTree::Punct(dot), field @ (TokenTree::Ident(_) | TokenTree::Literal(_)), tail @ ..]
                if dot.as_char() == '.' =>
            {
                let mut field = field.clone();
                field.set_span(span.resolved_at(Span::mixed_site()));
                steps.push(Step::Field(field.into_token_stream()));
                rest = tail;
            }
            [TokenTree::Group(group), tail @ ..] if group.delimiter() == Delimiter::Bracket => {
                steps.push(bracket(group)?);
                rest = tail;
            }
            _ => return Err(SHAPE.to_owned()),
        }
    }
    Ok(steps)
}

fn bracket(group: &Group) -> Result<Step, String> {
    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
    match inner.as_slice() {
        [TokenTree::Ident(name)] => Ok(Step::Member(name.unraw().to_string())),
        [TokenTree::Literal(lit)] => {
            let text = lit.to_string();
            if let Ok(index) = text.parse::<usize>() {
                return Ok(Step::Index(index));
            }
            match syn::parse_str::<LitStr>(&text) {
                Ok(s) => Ok(Step::Member(s.value())),
                Err(_) => Err(format!("`[{text}]` is neither a member name nor an index")),
            }
        }
        _ => Err(
            "inside `[…]` goes a member name (`[order_id]`, `[\"order-id\"]`) or an index (`[0]`)"
                .into(),
        ),
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

/// The expression of one part, as the builder hashes it: `&expr` for a
/// plain path, else a `Part` built step by step. `json` names the cache of
/// each `json(…)` text (see `expand`).
pub(crate) fn part_expr(
    path: &KeyPath,
    private: &TokenStream,
    json: &dyn Fn(&KeyPath) -> Ident,
) -> TokenStream {
    let span = path.span;
    let mut expr = match &path.start {
        Start::Typed(expr) if path.steps.is_empty() => return quote_spanned!(span=> &#expr),
        Start::Typed(expr) => quote_spanned!(span=> #private::Part::of(&#expr)),
        Start::Json(expr) => {
            let cache = json(path);
            quote_spanned!(span=> #cache.root(&#expr))
        }
    };
    for step in &path.steps {
        expr = match step {
            Step::Field(field) => quote_spanned!(span=> #expr.map(|__idem_v| &__idem_v.#field)),
            Step::Through => quote_spanned!(span=> #expr.then(#private::through)),
            Step::Member(name) => {
                quote_spanned!(span=> #expr.then(|__idem_v| #private::lookup(__idem_v, #name)))
            }
            Step::Index(index) => {
                quote_spanned!(span=> #expr.then(|__idem_v| #private::lookup(__idem_v, #index)))
            }
        };
    }
    quote!(&#expr)
}
