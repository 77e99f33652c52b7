//! The function the attribute is on: `async`, returning `Result<T, E>`.

use syn::spanned::Spanned;
use syn::{ReturnType, Signature, Type};

use crate::errors::Errors;

/// The function must be `async` and return something named `Result`;
/// whether that is really `Result<T, E>` with the right bounds is left to
/// rustc, through the assertions the expansion emits.
pub(crate) fn check_signature(sig: &Signature, errors: &mut Errors) {
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
        ReturnType::Type(_, ty) => {
            if let Some(borrowed) = ok_type(ty).and_then(borrowed_part) {
                errors.at(
                    borrowed.span(),
                    "the result of an #[idempotent] function is saved and replayed to later \
                     calls, so it must own its data: return an owned type (`String` for `&str`, \
                     `Vec<T>` for `&[T]`)",
                );
            }
        }
    }
}

/// The `T` of `Result<T, E>` as written.
fn ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// A reference anywhere in `ty` (`&str`, `Vec<&[u8]>`, `(u8, &T)`).
fn borrowed_part(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(_) => Some(ty),
        Type::Paren(p) => borrowed_part(&p.elem),
        Type::Group(g) => borrowed_part(&g.elem),
        Type::Tuple(t) => t.elems.iter().find_map(borrowed_part),
        Type::Array(a) => borrowed_part(&a.elem),
        Type::Slice(s) => borrowed_part(&s.elem),
        Type::Path(p) => p.path.segments.iter().find_map(|seg| match &seg.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::Type(t) => borrowed_part(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
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
