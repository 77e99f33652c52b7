//! Writes whose outcome is unknown: applied, but the reply lost, then sent
//! again. Each store must recognise its own state and give the right answer.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::Suite;
use crate::error::Error;
use crate::store::{Claim, ClaimRequest, Completion, Intercept, Intercepted, Lease};
use crate::store::{Status, Store, StoreError, StoreFuture};
use crate::Idempotent;

impl Suite {
    /// The same request twice, as a client retries a write whose reply was
    /// lost: every method must give the answer of the first.
    pub(super) async fn retried_writes(&mut self) {
        let key = self.key("retried");
        let now = self.now;
        let request = self.request(&key, now, 60_000);
        let first = self.store.claim(request.clone()).await;
        let again = self.store.claim(request).await;
        let lease = match (first, again) {
            (Ok(Claim::Acquired(a)), Ok(Claim::Acquired(b))) => {
                check!(self, a.token == b.token, "a retried claim keeps its token");
                b
            }
            other => panic!(
                "store conformance: a retried claim (same token) must be acquired again, got {other:?}"
            ),
        };
        let stranger = self.existing(&key, now + 1).await;
        check!(
            self,
            stranger.status == Status::InProgress,
            "another call (another token) still finds the claim"
        );
        self.store
            .extend(&key, &lease, now + 90_000)
            .await
            .expect("extend");
        let r = self.store.extend(&key, &lease, now + 90_000).await;
        check!(self, r.is_ok(), "a retried extend must succeed, got {r:?}");
        let data = "\"done\"";
        let expires_at_s = now / 1000 + 100;
        self.complete(&key, &lease, Some(data), expires_at_s)
            .await
            .expect("complete");
        let r = self.complete(&key, &lease, Some(data), expires_at_s).await;
        check!(
            self,
            r.is_ok(),
            "a retried complete (already completed under its lease) must succeed, got {r:?}"
        );
        let done = self.existing(&key, now + 2).await;
        check!(
            self,
            done.status == Status::Completed && done.data.as_deref() == Some(data),
            "a retried complete leaves the result as it was, got {done:?}"
        );
        let kept = done.lease.as_ref().and_then(|l| l.token);
        check!(
            self,
            kept == lease.token,
            "a completed record keeps the lease that completed it, got {kept:?}"
        );
        // A retried claim after completion is no claim: the result stands.
        let mut late = self.request(&key, now + 3, 60_000);
        late.token = lease.token.expect("ours");
        let r = self.store.claim(late).await;
        check!(
            self,
            matches!(&r, Ok(Claim::Existing(rec)) if rec.status == Status::Completed),
            "a claim under the token of a completed record returns the record, got {r:?}"
        );

        let key = self.key("retried-release");
        let lease = self.acquire(&key, now, 60_000).await;
        self.store.release(&key, &lease).await.expect("release");
        let r = self.store.release(&key, &lease).await;
        check!(self, r.is_ok(), "a retried release must succeed, got {r:?}");
    }

    /// The engine through a store that applies every write and then loses
    /// its first reply: each outcome must still be right.
    pub(super) async fn engine_through_lost_replies(&mut self) {
        let lossy = Arc::new(Intercepted(LosesFirstReply {
            inner: Arc::clone(&self.store),
            seen: Mutex::new(HashSet::new()),
            lost: AtomicUsize::new(0),
        }));
        let namespace = format!("{}engine", self.prefix);
        let runs = AtomicUsize::new(0);
        let call = |id: &'static str, fail: bool| {
            let (lossy, runs, namespace) = (&lossy, &runs, namespace.clone());
            async move {
                Idempotent::new(namespace)
                    .store(&**lossy)
                    .key("id", id)
                    .run(|| async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        if fail {
                            Err(Error::NoStore {
                                namespace: "conformance".into(),
                                reason: "the body failed on purpose",
                            })
                        } else {
                            Ok(format!("result of {id}"))
                        }
                    })
                    .await
            }
        };
        let first = call("a", false).await;
        check!(
            self,
            first.as_deref().ok() == Some("result of a"),
            "a first call whose claim and complete replies were lost still returns its result, got {first:?}"
        );
        let again = call("a", false).await;
        check!(
            self,
            again.as_deref().ok() == Some("result of a"),
            "its duplicate replays it, got {again:?}"
        );
        check!(
            self,
            runs.load(Ordering::SeqCst) == 1,
            "the body ran once, ran {}",
            runs.load(Ordering::SeqCst)
        );
        let failed = call("b", true).await;
        check!(self, failed.is_err(), "a failing body's error comes back");
        let retried = call("b", false).await;
        check!(
            self,
            retried.as_deref().ok() == Some("result of b"),
            "after a failed body whose release reply was lost, the retry runs, got {retried:?}"
        );
        check!(
            self,
            lossy.lost.load(Ordering::SeqCst) >= 4,
            "the store lost replies of claim, complete and release"
        );
    }
}

/// Applies each write, and loses the reply of the first attempt of every
/// distinct write (the same write sent again gets its real answer).
struct LosesFirstReply {
    inner: Arc<dyn Store>,
    seen: Mutex<HashSet<String>>,
    lost: AtomicUsize,
}

impl LosesFirstReply {
    fn lose<'a, T: Send + 'a>(
        &'a self,
        write: String,
        call: StoreFuture<'a, T>,
    ) -> StoreFuture<'a, T> {
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(write);
        Box::pin(async move {
            let answer = call.await;
            if first {
                self.lost.fetch_add(1, Ordering::SeqCst);
                return Err(StoreError::backend("a write", "the reply was lost"));
            }
            answer
        })
    }
}

fn token(lease: &Lease) -> String {
    lease.token.map(|t| t.to_string()).unwrap_or_default()
}

impl Intercept for LosesFirstReply {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        let write = format!("claim {} {}", request.key, request.token);
        self.lose(write, self.inner.claim(request))
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        let write = format!("complete {} {}", completion.key, token(completion.lease));
        self.lose(write, self.inner.complete(completion))
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        let write = format!("release {key} {}", token(lease));
        self.lose(write, self.inner.release(key, lease))
    }
}
