//! What a call does when the key is busy, missing, or its caller leaves.

use std::time::Duration;

/// What a call does when the same key is already in progress elsewhere.
///
/// ```
/// use idem_core::{Error, Idempotent, InProgress, MemoryStore};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let call = |policy| {
///     Idempotent::new("docs::slow")
///         .store(&store)
///         .key("id", "a-1")
///         .in_progress(policy)
/// };
/// let first = call(InProgress::Fail).run(|| async {
///     tokio::time::sleep(Duration::from_millis(50)).await;
///     Ok::<_, Error>(1)
/// });
/// let duplicates = async {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     let failed = call(InProgress::Fail).run(|| async { Ok::<_, Error>(2) }).await;
///     let waited = call(InProgress::Wait(Some(Duration::from_secs(5))))
///         .run(|| async { Ok::<_, Error>(3) })
///         .await;
///     (failed, waited)
/// };
/// let (first, (failed, waited)) = tokio::join!(first, duplicates);
/// assert_eq!(first.unwrap(), 1);
/// assert!(matches!(failed, Err(Error::InProgress { .. })));
/// assert_eq!(waited.unwrap(), 1); // the first call's result
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InProgress {
    /// Return [`Error::InProgress`](crate::Error::InProgress) with `retry_after` (the default, as in Powertools).
    #[default]
    Fail,
    /// Poll until the first call's result is saved, or its lease lapses (then
    /// run the body here); give up with [`Error::InProgress`](crate::Error::InProgress) after the
    /// duration, if one is given.
    Wait(Option<Duration>),
}

/// What a call does when a key part is `None`, null or empty.
///
/// ```
/// use idem_core::{Error, Idempotent, MemoryStore, OnMissingKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let order_id: Option<&str> = None;
/// let call = |policy| {
///     Idempotent::new("docs::missing")
///         .store(&store)
///         .key("order.order_id", &order_id)
///         .on_missing_key(policy)
///         .run(|| async { Ok::<_, Error>(String::from("ran")) })
/// };
/// assert!(matches!(call(OnMissingKey::Error).await, Err(Error::MissingKey { .. })));
/// // No key, no deduplication: the body runs every time.
/// assert_eq!(call(OnMissingKey::Run).await.unwrap(), "ran");
/// assert_eq!(call(OnMissingKey::Run).await.unwrap(), "ran");
/// assert!(store.is_empty());
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissingKey {
    /// Return [`Error::MissingKey`](crate::Error::MissingKey) (the default).
    #[default]
    Error,
    /// Run the body without idempotency (and log a warning).
    Run,
}

/// What happens to the claim when the call's future is dropped while the
/// body runs; [`Idempotent::on_cancel`](crate::Idempotent::on_cancel) shows
/// both at work.
///
/// ```
/// assert_eq!(idem_core::OnCancel::default(), idem_core::OnCancel::Release);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCancel {
    /// Release the claim (the default): the body did not finish, so a retry
    /// may run it again, now rather than after the lease.
    #[default]
    Release,
    /// Keep the claim until its lease lapses: for bodies that spawn work
    /// which goes on after the call is dropped, so a retry must not start
    /// a second copy of it.
    Keep,
}
