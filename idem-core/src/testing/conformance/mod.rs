//! The store conformance suite: every rule of the [`Store`] contract,
//! checked against a real store.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::key::Fingerprint;
use crate::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Record};
use crate::store::{Store, StoreError};

/// What the conformance suite checked.
///
/// ```
/// use idem_core::{testing::conformance, MemoryStore};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let report = conformance(Arc::new(MemoryStore::new())).await;
/// assert!(report.checks > 40);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConformanceReport {
    /// Number of assertions that held.
    pub checks: usize,
}

struct Suite {
    store: Arc<dyn Store>,
    prefix: String,
    now: u64,
    checks: usize,
}

macro_rules! check {
    ($suite:expr, $cond:expr, $($msg:tt)+) => {{
        $suite.checks += 1;
        assert!($cond, "store conformance: {}", format!($($msg)+));
    }};
}

mod ambiguous;
mod lifecycle;
mod load;

impl Suite {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn request<'a>(&self, key: &'a str, now: u64, lease_ms: u64) -> ClaimRequest<'a> {
        ClaimRequest {
            key,
            now_ms: now,
            token: LeaseToken::new(),
            lease_until_ms: now + lease_ms,
            expires_at_s: (now + 3_600_000) / 1000,
            fingerprint: None,
        }
    }

    async fn acquire(&mut self, key: &str, now: u64, lease_ms: u64) -> Lease {
        let request = self.request(key, now, lease_ms);
        let request_token = request.token;
        match self.store.claim(request).await {
            Ok(Claim::Acquired(lease)) => {
                check!(
                    self,
                    lease.until_ms == now + lease_ms && lease.is_held_by(request_token),
                    "claim must install a lease with the request's token, ending when requested; got {lease:?}"
                );
                lease
            }
            other => panic!(
                "store conformance: claim of a free key `{key}` must be acquired, got {other:?}"
            ),
        }
    }

    async fn existing(&mut self, key: &str, now: u64) -> Arc<Record> {
        match self.store.claim(self.request(key, now, 60_000)).await {
            Ok(Claim::Existing(record)) => record,
            other => panic!("store conformance: claim of a held key `{key}` must return the record, got {other:?}"),
        }
    }

    async fn complete(
        &self,
        key: &str,
        lease: &Lease,
        data: Option<&str>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.complete_with(key, lease, data, None, expires_at_s)
            .await
    }

    async fn complete_with(
        &self,
        key: &str,
        lease: &Lease,
        data: Option<&str>,
        fingerprint: Option<&Fingerprint>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.store
            .complete(Completion {
                key,
                lease,
                data,
                fingerprint,
                expires_at_s,
            })
            .await
    }

    /// The record under `key` as `get` sees it at `now`.
    async fn record(&self, key: &str, now: u64) -> Option<Record> {
        match self.store.get(key, now).await {
            Ok(record) => record,
            Err(e) => panic!("store conformance: get of `{key}` failed: {e}"),
        }
    }

    fn lost(&mut self, result: Result<(), StoreError>, what: &str) {
        check!(
            self,
            matches!(result, Err(StoreError::LeaseLost)),
            "{what} must fail with StoreError::LeaseLost, got {result:?}"
        );
    }
}

/// Runs the whole store contract against `store` and panics on the first
/// broken rule: claim/complete/release/extend/get/delete semantics, expiry,
/// takeover after a lapsed lease, fencing of late writes, results up to
/// `max_data_bytes` (or 256 KiB), 64 concurrent claimers of one key with
/// exactly one winner, and writes whose outcome is unknown: each write sent
/// twice (a client's retry after a lost reply) gets the first one's answer,
/// and the engine, through a store that loses the first reply of every
/// write, still runs each body once and returns the right results.
///
/// Run it from a test of your own store (here a `Cached` one):
///
/// ```
/// use idem_core::{testing::conformance, Cached, MemoryStore};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let report = conformance(Arc::new(Cached::new(MemoryStore::new(), 1_000))).await;
/// println!("{} checks held", report.checks);
/// # }
/// ```
pub async fn conformance(store: Arc<dyn Store>) -> ConformanceReport {
    let mut suite = Suite {
        store,
        prefix: format!("idem-conformance::{}#", LeaseToken::new()),
        now: SystemClock.now_ms(),
        checks: 0,
    };
    suite.claim_complete_replay().await;
    suite.expiry().await;
    suite.release_and_extend().await;
    suite.takeover_and_fencing().await;
    suite.no_data_and_delete().await;
    suite.sizes().await;
    suite.concurrent_claims().await;
    suite.retried_writes().await;
    suite.engine_through_lost_replies().await;
    ConformanceReport {
        checks: suite.checks,
    }
}
