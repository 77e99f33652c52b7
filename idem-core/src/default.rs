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
pub fn set_default_store(store: Arc<dyn Store>) -> Result<(), Arc<dyn Store>> {
    DEFAULT.set(store)
}

pub(crate) fn store() -> Result<&'static dyn Store, &'static str> {
    if let Some(store) = DEFAULT.get() {
        return Ok(&**store);
    }
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        return Err("on AWS Lambda, call idem_core::set_default_store (an in-memory store would deduplicate per instance only) or pass `store = …`");
    }
    Ok(&**DEFAULT.get_or_init(|| {
        tracing::info!("no idempotency store set; using a process-wide in-memory store");
        Arc::new(MemoryStore::new())
    }))
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
