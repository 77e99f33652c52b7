//! Store writes retried when their outcome is unknown.
//!
//! A backend error may come after the write was applied (the reply lost, a
//! 500 after the commit). The engine sends the same request again: every
//! store recognises its own token (see [`Store`]'s rules), so the retry
//! reports what really happened instead of "in progress" or "lease lost".
//! Fencing, size and corruption errors are answers, not unknowns: never
//! retried.

use std::future::Future;
use std::time::Duration;

use super::release::ReleaseOnDrop;
use crate::store::{Claim, ClaimRequest, Completion, Lease, Store, StoreError, StoreFuture};

/// Pauses before the second and third attempt. Backends retry on their own
/// too (the AWS SDK three times): these cover what is left after that.
const PAUSES: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(100)];

async fn with_retries<'a, T>(
    mut attempt: impl FnMut() -> StoreFuture<'a, T>,
) -> Result<T, StoreError> {
    match attempt().await {
        // Boxed: the pauses' timers are large, and only a failed write needs them.
        Err(StoreError::Backend { .. }) => Box::pin(again(attempt)).await,
        done => done,
    }
}

/// The attempts after a first one whose outcome is unknown.
async fn again<'a, T>(mut attempt: impl FnMut() -> StoreFuture<'a, T>) -> Result<T, StoreError> {
    let mut pauses = PAUSES.iter();
    loop {
        if let Some(pause) = pauses.next() {
            tokio::time::sleep(*pause).await;
        }
        match attempt().await {
            Err(StoreError::Backend { .. }) if pauses.len() > 0 => {}
            done => return done,
        }
    }
}

/// Claims, retrying with the same token. If every attempt failed, one of
/// them may still have been applied: the claim is released (best effort),
/// so it does not hold the key for its lease. The same holds if the call is
/// dropped while a claim is in flight or between attempts.
///
/// A plain `fn` returning an `async` block: an `async fn` would keep its
/// arguments twice in its future, and this one is in every call's.
#[allow(clippy::manual_async_fn)]
pub(crate) fn claim<'a>(
    store: &'a dyn Store,
    request: ClaimRequest<'a>,
) -> impl Future<Output = Result<Claim, StoreError>> + Send + 'a {
    async move {
        let lease = Lease::new(request.token, request.lease_until_ms);
        // Armed until the claim's outcome is known. On `Acquired` the body's
        // own guard takes over before the next await.
        let mut guard = ReleaseOnDrop::new(store, request.key, &lease);
        let result = with_retries(|| store.claim(request.clone())).await;
        if let Err(StoreError::Backend { .. }) = &result {
            if store.release(request.key, &lease).await.is_err() {
                tracing::warn!("a claim failed and so did releasing it; it lapses with its lease");
            }
        }
        guard.disarm();
        result
    }
}

pub(crate) async fn complete(
    store: &dyn Store,
    completion: Completion<'_>,
) -> Result<(), StoreError> {
    with_retries(|| store.complete(completion.clone())).await
}

pub(crate) async fn release(store: &dyn Store, key: &str, lease: &Lease) -> Result<(), StoreError> {
    with_retries(|| store.release(key, lease)).await
}
