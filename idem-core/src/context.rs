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
/// Where it is set: inside the body of a guarded call, and also with
/// `IDEM_DISABLED=1` (the key is computed, nothing is stored), so code that
/// passes it on behaves the same either way. Where it is `None`: outside a
/// body, when a key part was missing under `on_missing_key = "run"`, and in
/// tasks the body spawns — tokio does not carry task-locals into new tasks,
/// so read it in the body and move it in:
///
/// ```
/// # use idem_core::{current_key, Idempotent, MemoryStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// # let store = MemoryStore::new();
/// Idempotent::new("docs::spawn").store(&store).key("id", "s-1")
///     .run(|| async {
///         let key = current_key();
///         let seen = tokio::spawn(async move { key.map(|k| k.storage_key().to_owned()) });
///         assert!(seen.await.unwrap().is_some_and(|k| k.starts_with("docs::spawn#")));
///         Ok::<_, idem_core::Error>(())
///     })
///     .await
/// # }
/// ```
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
///         // Inside a body there is always one.
///         let key = current_key().map(|k| k.storage_key().to_owned());
///         Ok::<_, idem_core::Error>(key.unwrap_or_default())
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
