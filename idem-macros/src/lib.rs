//! The `#[idempotent]` attribute of [idem](https://docs.rs/idem-core). Use it
//! through `idem_core::idempotent` (feature `macros`, on by default), where it
//! is documented.
//!
//! The macro only parses, validates and emits a call to idem-core's
//! programmatic API; every behaviour lives and is tested there.
//! `attr` parses and validates the arguments (with `path` for key paths,
//! `duration` for durations, `signature` for the function), `errors`
//! collects every mistake, `suggest` finds "did you mean", and `expand`
//! generates.

mod attr;
mod duration;
mod errors;
mod expand;
mod path;
mod signature;
mod suggest;

use proc_macro::TokenStream;

/// # Expansion
///
/// ```text
/// #[idempotent(key = "order.order_id", ttl = "48h", store = &STORE)]
/// async fn charge(order: &Order) -> Result<Receipt, ChargeError> { body }
/// ```
///
/// becomes the same signature around the builder chain of
/// `idem_core::Idempotent` (names through `::idem_core::__private`, or the
/// path given as `crate = "…"`):
///
/// ```text
/// async fn charge(order: &Order) -> Result<Receipt, ChargeError> {
///     assert_return(PhantomData::<Result<Receipt, ChargeError>>); // types only
///     Idempotent::new(concat!(module_path!(), "::", "charge"))
///         .ttl(Duration::from_millis(172800000))
///         .store(&(&STORE))
///         .key("order.order_id", key_part(&order.order_id))
///         .run(|| async { body }) // after a never-taken `return` of the declared type
///         .await
/// }
/// ```
///
/// `assert_return` and `key_part` are empty and inlined; they exist so that
/// a type without the required traits is reported on the return type or on
/// the key string, with a message that says what to do.
#[proc_macro_attribute]
pub fn idempotent(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::idempotent(args.into(), item.into()).into()
}
