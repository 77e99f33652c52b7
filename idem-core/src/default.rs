//! The process-wide default store and the `IDEM_DISABLED` switch.

use std::sync::{Arc, OnceLock};

use crate::memory::MemoryStore;
use crate::store::Store;

static DEFAULT: OnceLock<Arc<dyn Store>> = OnceLock::new();

/// Sets the store used by calls that name none (`#[idempotent]` without
/// `store = …`). Call it once at start-up, before the first guarded call;
/// returns the store back if a default was already in place.
///
/// Without it, calls outside AWS Lambda fall back to a process-wide
/// [`MemoryStore`] (right for tests and local development). On Lambda
/// (`AWS_LAMBDA_FUNCTION_NAME` is set) there is no fallback: every instance
/// would deduplicate alone, so such calls fail with [`Error::NoStore`](crate::Error::NoStore).
///
/// ```
/// use std::sync::Arc;
/// idem_core::set_default_store(Arc::new(idem_core::MemoryStore::new())).ok();
/// ```
pub fn set_default_store(store: Arc<dyn Store>) -> Result<(), AlreadySet> {
    DEFAULT.set(store).map_err(AlreadySet)
}

/// [`set_default_store`] was called before: the default stays as it was, and
/// this holds the store that was refused.
///
/// ```
/// use std::sync::Arc;
/// use idem_core::{set_default_store, MemoryStore};
///
/// set_default_store(Arc::new(MemoryStore::new())).expect("the first call sets it");
/// let refused = set_default_store(Arc::new(MemoryStore::new())).unwrap_err();
/// assert_eq!(refused.to_string(), "the default idempotency store is already set");
/// ```
#[derive(thiserror::Error)]
#[error("the default idempotency store is already set")]
pub struct AlreadySet(pub Arc<dyn Store>);

impl std::fmt::Debug for AlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlreadySet(..)")
    }
}

tokio::task_local! {
    /// The store of `testing::scoped_store`, for calls that name none.
    static SCOPED: Arc<dyn Store>;
}

/// The store a call holds: one it was given, or the default.
pub(crate) enum StoreHandle<'a> {
    Borrowed(&'a dyn Store),
    Scoped(Arc<dyn Store>),
}

impl StoreHandle<'_> {
    #[inline]
    pub(crate) fn get(&self) -> &dyn Store {
        match self {
            StoreHandle::Borrowed(store) => *store,
            StoreHandle::Scoped(store) => &**store,
        }
    }
}

/// Runs `future` with `store` as the store of every call inside it that
/// names none: the scope of `testing::scoped_store`.
#[cfg(feature = "testing")]
pub(crate) fn scope<F: std::future::Future>(
    store: Arc<dyn Store>,
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    SCOPED.scope(store, future)
}

pub(crate) fn store() -> Result<StoreHandle<'static>, &'static str> {
    if let Ok(scoped) = SCOPED.try_with(Arc::clone) {
        return Ok(StoreHandle::Scoped(scoped));
    }
    if let Some(store) = DEFAULT.get() {
        return Ok(StoreHandle::Borrowed(&**store));
    }
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        return Err("on AWS Lambda, call idem_core::set_default_store (an in-memory store would deduplicate per instance only) or pass `store = …`");
    }
    Ok(StoreHandle::Borrowed(&**DEFAULT.get_or_init(|| {
        tracing::info!("no idempotency store set; using a process-wide in-memory store");
        Arc::new(MemoryStore::new())
    })))
}

/// Whether `IDEM_DISABLED` is set to `1`/`true`: bodies then run directly,
/// without idempotency (local development). Read once; warns once.
pub(crate) fn disabled() -> bool {
    static DISABLED: OnceLock<bool> = OnceLock::new();
    *DISABLED.get_or_init(|| {
        let value = std::env::var("IDEM_DISABLED").unwrap_or_default();
        let on = match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "" | "0" | "false" | "no" | "off" => false,
            _ => {
                tracing::warn!(
                    value = %value,
                    "IDEM_DISABLED has a value that is neither on (1, true, yes, on) nor off \
                     (0, false, no, off, empty); idempotency stays on"
                );
                false
            }
        };
        if on {
            tracing::warn!("IDEM_DISABLED is set: idempotency is off, every call runs its body");
        }
        on
    })
}
