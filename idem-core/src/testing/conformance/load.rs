//! Results at the store's size limit, and many claimers of one key at once.

use std::sync::Arc;

use super::Suite;
use crate::store::{Claim, ClaimRequest, LeaseToken, Status};

impl Suite {
    pub(super) async fn sizes(&mut self) {
        let key = self.key("large");
        let now = self.now;
        let size = self
            .store
            .max_data_bytes()
            .unwrap_or(256 * 1024)
            .min(256 * 1024);
        let data = format!("\"{}\"", "x".repeat(size.saturating_sub(2)));
        let lease = self.acquire(&key, now, 60_000).await;
        self.complete(&key, &lease, Some(&data), now / 1000 + 100)
            .await
            .expect("a result of max_data_bytes must fit");
        let got = self.record(&key, now + 1).await.expect("a record");
        check!(
            self,
            got.data.as_deref().map(str::len) == Some(data.len()),
            "a large result comes back whole"
        );
    }

    pub(super) async fn concurrent_claims(&mut self) {
        let key = self.key("race");
        let now = self.now;
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let store = Arc::clone(&self.store);
            let key = key.clone();
            set.spawn(async move {
                let request = ClaimRequest {
                    key: &key,
                    now_ms: now,
                    token: LeaseToken::new(),
                    lease_until_ms: now + 60_000,
                    expires_at_s: now / 1000 + 100,
                    fingerprint: None,
                };
                store.claim(request).await
            });
        }
        let mut acquired = 0;
        let mut existing = 0;
        while let Some(joined) = set.join_next().await {
            match joined.expect("claim task") {
                Ok(Claim::Acquired(_)) => acquired += 1,
                Ok(Claim::Existing(r)) => {
                    check!(
                        self,
                        r.status == Status::InProgress,
                        "losers see the winner's claim"
                    );
                    existing += 1;
                }
                Err(e) => panic!("store conformance: a concurrent claim failed: {e}"),
            }
        }
        check!(
            self,
            acquired == 1 && existing == 63,
            "64 concurrent claimers: exactly one wins, got {acquired} winners"
        );
    }
}
