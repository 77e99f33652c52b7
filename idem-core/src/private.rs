//! Everything the expansion of `#[idempotent]` names, in one place
//! (`::idem_core::__private::…`). Not public API: it changes with the macro,
//! which idem-core pins exactly.

pub use crate::path::{lookup, through, JsonOnce, Part};
pub use crate::site::Site;
pub use crate::{Error, Idempotent, InProgress, OnCancel, OnMissingKey};
pub use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

// The traits below exist for their error messages: the expansion asserts
// them on the user's spans (the return type, the key string), and rustc
// reports the root obligation's `on_unimplemented` message instead of
// "`T: Serialize` is not satisfied … required by a bound in `run`". The
// supertraits make rustc drop the duplicate errors of the builder's own
// bounds at the same span.

/// The declared return type of an `#[idempotent]` function.
#[diagnostic::on_unimplemented(
    message = "an `#[idempotent]` function must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`"
)]
pub trait ReturnsResult {
    /// `T`.
    type Ok;
    /// `E`.
    type Err;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// The `T` of `Result<T, E>`: saved as JSON…
#[diagnostic::on_unimplemented(
    message = "the result type `{Self}` of an `#[idempotent]` function must implement `Serialize`",
    label = "the `Ok` value is saved, to be replayed to duplicates",
    note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
)]
pub trait ResultSerialize: Serialize {}

impl<T: Serialize> ResultSerialize for T {}

/// …and replayed to duplicates.
#[diagnostic::on_unimplemented(
    message = "the result type `{Self}` of an `#[idempotent]` function must implement `DeserializeOwned`",
    label = "duplicates get the saved `Ok` value back, deserialized",
    note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
)]
pub trait ResultDeserialize: DeserializeOwned {}

impl<T: DeserializeOwned> ResultDeserialize for T {}

/// The `E` of `Result<T, E>`: idem's own errors are returned through it.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of an `#[idempotent]` function must implement `From<idem_core::Error>`",
    label = "idem's own errors (in progress, missing key, store failure) are returned as this type",
    note = "add a variant such as `#[error(transparent)] Idem(#[from] idem_core::Error)`, or return `anyhow::Result<T>`"
)]
pub trait ResultError: From<Error> {}

impl<E: From<Error>> ResultError for E {}

/// A part of `key = …` or `validate = …`: hashed through `Serialize`.
#[diagnostic::on_unimplemented(
    message = "the key part `{Self}` must implement `Serialize`",
    label = "key and `validate` parts are hashed through `serde::Serialize`",
    note = "derive `serde::Serialize` for `{Self}`, or key on one of its fields"
)]
pub trait KeyPart: Serialize {}

impl<T: Serialize + ?Sized> KeyPart for T {}

/// Compile-time check of the declared return type; does nothing.
#[inline(always)]
pub fn assert_return<R>(_: std::marker::PhantomData<R>)
where
    R: ReturnsResult,
    R::Ok: ResultSerialize + ResultDeserialize,
    R::Err: ResultError,
{
}

/// Compile-time check of a key part; returns it unchanged.
#[inline(always)]
pub fn key_part<T: KeyPart + ?Sized>(part: &T) -> &T {
    part
}
