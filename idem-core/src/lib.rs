//! # idem-core
//!
//! Make an async function run its side effects **once per key** under
//! at-least-once delivery (SQS, SNS, EventBridge, Lambda retries, stream
//! replays, HTTP client retries), and replay the saved result to every
//! duplicate.
//!
//! ## The attribute
//!
//! ```
//! use idem_core::idempotent;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize)]
//! struct Order { order_id: String, amount_cents: u64 }
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Receipt { charged_cents: u64 }
//!
//! #[idempotent(key = "order.order_id", ttl = "48h")]
//! async fn charge(order: &Order) -> Result<Receipt, idem_core::Error> {
//!     Ok(Receipt { charged_cents: order.amount_cents }) // the side effect goes here
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), idem_core::Error> {
//! let order = Order { order_id: "ord-1".into(), amount_cents: 1250 };
//! let first = charge(&order).await?;
//! let again = charge(&order).await?; // a duplicate delivery: replayed, not run
//! assert_eq!(first, again);
//! # Ok(())
//! # }
//! ```
//!
//! [`idempotent`] lists its arguments (key paths, `ttl`, `lease`,
//! `validate`, `store`, `in_progress`, …); every mistake is a compile error.
//!
//! ## The builder
//!
//! The attribute expands to [`Idempotent`], which closures can use directly:
//!
//! ```
//! use idem_core::{Idempotent, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), idem_core::Error> {
//! let store = MemoryStore::new();
//! let mut runs = 0;
//! for _ in 0..3 {
//!     let total: u64 = Idempotent::new("shop::checkout")
//!         .store(&store)
//!         .key("cart_id", "cart-7")
//!         .run(|| async { runs += 1; Ok::<_, idem_core::Error>(4200) })
//!         .await?;
//!     assert_eq!(total, 4200);
//! }
//! assert_eq!(runs, 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Stores
//!
//! [`MemoryStore`] (in process), [`Cached`] (a local cache of completed
//! records in front of any store), `idem_dynamo::DynamoStore` (DynamoDB, in
//! Powertools' table layout). Calls without `store = …` use the process
//! default ([`set_default_store`]). To write a store of your own, see
//! [`store`]: the [`Store`] trait, its records and its rules.
//!
//! ## Testing
//!
//! [`testing`] (feature `testing`): a store of each test's own
//! (`testing::scoped_store`), a claim left as a crashed run leaves it
//! (`testing::crashed_claim`), a manual clock, a counting and a
//! fault-injecting store, and the conformance suite every store must pass.
//!
//! ## The call flow
//!
//! 1. The key parts are hashed ([`Key`]) before the arguments move into the body.
//! 2. `store.claim(key)`:
//!    - acquired → run the body (renewing the lease while it runs; the
//!      body sees [`current_key()`]) → `Ok` is saved and returned; `Err`, a
//!      panic or a dropped future release the claim so a retry runs again;
//!    - completed → the saved result is decoded and returned (the body does
//!      not run), after checking the payload fingerprint if `validate` is set;
//!    - in progress → [`Error::InProgress`] with `retry_after`, or wait for
//!      the result, reading the record ([`InProgress::Wait`]).
//! 3. A run that crashed holds its claim only until its lease lapses.
//!
//! ## Choices made here
//!
//! - A result that cannot be saved (too large for the store, or not held
//!   faithfully by JSON: a NaN, an infinity) is saved as *completed without
//!   data*: the effect never runs again, and replays get
//!   [`Error::ReplayUnavailable`].
//! - `lease` is capped at `ttl`; `deadline` caps the lease further.
//! - `ttl` is kept in whole seconds (the `expiration` attribute of
//!   Powertools' layout is epoch seconds), rounded up: `ttl = "1s"` replays
//!   for 1 to 2 s. Leases keep milliseconds.
//! - Fingerprints are compared only when both the record and the call have one.
//! - Store writes whose outcome is unknown are retried twice with the same
//!   lease token (after the backend's own retries).
//! - `IDEM_DISABLED=1` (or `true`, `yes`, `on`, in any case) turns idempotency
//!   off process-wide; an unrecognised value warns and leaves it on; it is
//!   read once.
//! - Without a store, calls use a process-wide [`MemoryStore`], except on AWS
//!   Lambda, where that would deduplicate per instance only: there they fail
//!   with [`Error::NoStore`] until [`set_default_store`] is called.
//!
//! ## Features
//!
//! - `macros` (default): the `#[idempotent]` attribute.
//! - `testing`: test support (above) and the store conformance suite.
//! - `metrics`: counters through the `metrics` facade, labelled by `namespace`:
//!   `idem_calls_total` (also by `outcome`: `executed`, `replayed`,
//!   `in_progress`, `body_error`, `error`, `unguarded`),
//!   `idem_store_errors_total` and `idem_complete_failures_total`. The
//!   duplicate rate is `replayed / (executed + replayed)`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod clock;
mod context;
mod default;
mod engine;
mod error;
mod key;
mod memory;
mod outcome;
pub mod path;
mod pool;
mod site;
pub mod store;
mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use cache::Cached;
pub use clock::{Clock, IntoDeadline, SystemClock};
pub use context::current_key;
pub(crate) use default::disabled;
pub use default::{set_default_store, AlreadySet};
pub use engine::{Idempotent, InProgress, OnCancel, OnMissingKey, DEFAULT_LEASE, DEFAULT_TTL};
pub use error::Error;
pub use key::{Fingerprint, FingerprintBuilder, Key, KeyBuilder, KeyError, ShortKey};
pub use memory::MemoryStore;
pub use outcome::{observe, Outcome};
pub use store::{Store, StoreError};

/// Runs an `async fn` at most once per key, and replays its saved result to
/// every duplicate.
///
/// ```
/// use idem_core::{idempotent, MemoryStore};
/// use serde::{Deserialize, Serialize};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(Serialize)]
/// struct Order { order_id: String, amount_cents: u64 }
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct Receipt { charged_cents: u64 }
///
/// static STORE: std::sync::LazyLock<MemoryStore> = std::sync::LazyLock::new(MemoryStore::new);
/// static CHARGES: AtomicU32 = AtomicU32::new(0);
///
/// #[idempotent(key = "order.order_id", ttl = "48h", store = &*STORE)]
/// async fn charge(order: &Order) -> Result<Receipt, idem_core::Error> {
///     CHARGES.fetch_add(1, Ordering::SeqCst); // the side effect
///     Ok(Receipt { charged_cents: order.amount_cents })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// let order = Order { order_id: "ord-1".into(), amount_cents: 1250 };
/// let first = charge(&order).await?;
/// let again = charge(&order).await?; // a duplicate delivery: replayed
/// assert_eq!(first, again);
/// assert_eq!(CHARGES.load(Ordering::SeqCst), 1);
/// # Ok(())
/// # }
/// ```
///
/// # Arguments
///
/// | argument | default | meaning |
/// |---|---|---|
/// | `key = "…"` | required | comma-separated paths, each rooted at a parameter or `self`: `"req.tenant, req.request_id"`; see "Key paths" below |
/// | `ttl = "…"` | `"1h"` | how long a result is replayed: `"30s"`, `"15m"`, `"48h"`, `"7d"`, `"1h30m"`, `"500ms"` |
/// | `lease = "…"` | `"5m"` | how long a claim survives without renewal; must be shorter than `ttl` |
/// | `deadline = expr` | none | the caller's deadline ([`IntoDeadline`]: unix ms, `SystemTime`, `Option` of those); the lease never outlives it |
/// | `validate = "…"` | none | paths fingerprinted; a duplicate with another payload gets [`Error::PayloadMismatch`] |
/// | `store = expr` | process default ([`set_default_store`]) | `&S`, `Arc<S>` or `Arc<dyn Store>` |
/// | `name = "…"` | `module_path!()::fn_name` | namespace of the records |
/// | `in_progress = "…"` | `"fail"` | `"wait"` or `"wait(10s)"`: poll for the first call's result |
/// | `on_missing_key = "…"` | `"error"` | `"run"`: run without idempotency when a key part is `None` or empty |
/// | `crate = "…"` | `"idem_core"` | path of this crate, if renamed or re-exported |
///
/// The function must be `async` and return `Result<T, E>` (or an alias such
/// as `anyhow::Result<T>`) with `T: Serialize + DeserializeOwned` and
/// `E: From<idem_core::Error>`. Its signature, attributes and visibility stay
/// as written; methods (`self.field` in the key), generics and borrowed or
/// owned arguments work. The key parts are hashed by reference before the
/// arguments move into the body.
///
/// Every mistake is a compile error on the offending span, all of one
/// attribute at once. Mistakes inside `key = "…"` (a field that does not
/// exist, a part that is not `Serialize`) are reported on the whole string:
/// on stable Rust a span cannot point inside a string literal.
///
/// # Key paths
///
/// | step | meaning | checked |
/// |---|---|---|
/// | `.field`, `.0` | a field | at compile time |
/// | `?` | through an `Option` field (`event.detail?.order_id`) | at compile time that it is an `Option`; `None` is a missing part |
/// | `[member]`, `["odd-name"]` | a member of a `serde_json::Value` object or a map with string keys (`event.detail[order_id]`) | at run time; absent is a missing part |
/// | `[0]` | an element of a `Value` array, a `Vec` or a slice (`records[0].id`) | at run time |
/// | `json(path)` | the JSON held in a string (`json(message.body)[order][id]`: SQS and API Gateway bodies), parsed once per call for all parts | at run time; not JSON is `InvalidKey` |
///
/// A missing part is [`Error::MissingKey`] naming the whole path as written
/// (or runs unguarded with `on_missing_key = "run"`). The run-time steps are
/// [`path`]'s, for use with the builder too.
///
/// Methods are namespaced `module_path!()::Type::method` (the `Self` type's
/// own name), functions `module_path!()::fn`. The namespace is part of every
/// stored key: moving or renaming a function changes it, so pin `name = "…"`
/// before production. Two `#[idempotent]` functions that end up with one
/// namespace in one process fail with [`Error::NamespaceClash`].
///
/// The expansion is the [`Idempotent`] builder chain, nothing more (see
/// "Expansion" below).
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use idem_macros::idempotent;

/// Support for code generated by `#[idempotent]`. Not public API.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
