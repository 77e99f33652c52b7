//! The key of the call whose body is running, for passing downstream.

use std::future::Future;

use crate::key::Key;

tokio::task_local! {
    static CURRENT: Key;
}

/// The key of the guarded call whose body is running on this task, if any.
///
/// Pass it on to downstream idempotency, so an effect outside the store is
/// deduplicated too if `complete` ever fails — for example as Stripe's
/// `Idempotency-Key` header, or a message-deduplication id.
///
/// ```
/// use idem_core::{current_key, Idempotent, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// assert!(current_key().is_none());
/// let store = MemoryStore::new();
/// let header = Idempotent::new("docs::pay")
///     .store(&store)
///     .key("id", "p-1")
///     .run(|| async {
///         let key = current_key().expect("inside the body");
///         Ok::<_, idem_core::Error>(key.storage_key().to_owned())
///     })
///     .await?;
/// assert!(header.starts_with("docs::pay#"));
/// # Ok(())
/// # }
/// ```
pub fn current_key() -> Option<Key> {
    CURRENT.try_with(Key::clone).ok()
}

pub(crate) fn scope<F: Future>(key: Key, body: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(key, body)
}
