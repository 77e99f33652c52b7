//! Releasing a claim when the call that holds it is dropped.

use std::task::Context;

use super::retry;
use crate::store::{Lease, Store};

/// Releases a claim if the call's future is dropped while it may hold one:
/// while the body runs, and while a claim is in flight or being retried (a
/// claim applied but unanswered holds the key as surely as an answered one).
///
/// A store whose release finishes without waiting (MemoryStore) is released
/// on the spot; otherwise the release is handed to the runtime, on a handle
/// of the store that outlives the call ([`Store::detach`]). A store that
/// has none keeps the claim until its lease lapses, and a warning says so.
pub(crate) struct ReleaseOnDrop<'a> {
    store: &'a dyn Store,
    key: &'a str,
    lease: Option<&'a Lease>,
}

impl<'a> ReleaseOnDrop<'a> {
    pub(crate) fn new(store: &'a dyn Store, key: &'a str, lease: &'a Lease) -> Self {
        ReleaseOnDrop {
            store,
            key,
            lease: Some(lease),
        }
    }

    /// Nothing to release any more (or never to release: the claim must stay).
    pub(crate) fn disarm(&mut self) {
        self.lease = None;
    }
}

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        let Some(lease) = self.lease else {
            return;
        };
        {
            let mut release = self.store.release(self.key, lease);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if release.as_mut().poll(&mut cx).is_ready() {
                return;
            }
        }
        let handed = match (self.store.detach(), tokio::runtime::Handle::try_current()) {
            (Some(owned), Ok(runtime)) => {
                let (key, lease) = (self.key.to_owned(), lease.clone());
                runtime.spawn(async move {
                    if let Err(e) = retry::release(&*owned, &key, &lease).await {
                        tracing::warn!(error = %e, "releasing a cancelled call's claim failed; it lapses with its lease");
                    }
                });
                true
            }
            _ => false,
        };
        if !handed {
            tracing::warn!(
                "the call was cancelled and its store cannot release the claim outside it; \
                 the claim lapses with its lease"
            );
        }
    }
}
