//! The life of one record: claim, complete, replay, expiry, release,
//! extension, takeover with fencing, results without data, delete.

use super::Suite;
use crate::key::Fingerprint;
use crate::store::{Claim, Lease, LeaseToken, Status};

impl Suite {
    pub(super) async fn claim_complete_replay(&mut self) {
        let key = self.key("basic");
        let now = self.now;
        let fp = Fingerprint::from_stored("f".repeat(64));
        let mut request = self.request(&key, now, 60_000);
        request.fingerprint = Some(&fp);
        let lease = match self.store.claim(request).await {
            Ok(Claim::Acquired(lease)) => lease,
            other => panic!("store conformance: first claim must be acquired, got {other:?}"),
        };
        let held = self.existing(&key, now + 1).await;
        check!(
            self,
            held.status == Status::InProgress,
            "a held key is in progress, got {:?}",
            held.status
        );
        check!(
            self,
            held.lease.as_ref().map(|l| l.token) == Some(lease.token),
            "the record carries the lease token"
        );
        check!(
            self,
            held.lease.as_ref().map(|l| l.until_ms) == Some(now + 60_000),
            "the record carries the lease end"
        );
        check!(
            self,
            held.fingerprint.as_ref() == Some(&fp),
            "the claim saves the fingerprint"
        );
        check!(self, held.key == key, "the record names its key");
        let got = self.record(&key, now + 1).await;
        check!(
            self,
            got.as_ref().map(|r| r.status) == Some(Status::InProgress),
            "get sees the claim"
        );

        let stranger = Lease::new(LeaseToken::new(), now + 60_000);
        let r = self
            .complete(&key, &stranger, Some("1"), now / 1000 + 100)
            .await;
        self.lost(r, "complete with another token");
        let data = r#"{"receipt":"r-1","note":"ünïcödé ✓","n":[1,2,3]}"#;
        let expires_at_s = now / 1000 + 7200;
        self.complete_with(&key, &lease, Some(data), Some(&fp), expires_at_s)
            .await
            .expect("complete with the lease");
        let done = self.existing(&key, now + 2).await;
        check!(
            self,
            done.status == Status::Completed,
            "completed after complete, got {:?}",
            done.status
        );
        check!(
            self,
            done.data.as_deref() == Some(data),
            "the data comes back byte for byte"
        );
        check!(
            self,
            done.expires_at_s == expires_at_s,
            "complete sets the new expiry"
        );
        check!(
            self,
            done.fingerprint.as_ref() == Some(&fp),
            "the fingerprint survives completion"
        );
        let r = self
            .complete(&key, &stranger, Some("again"), expires_at_s)
            .await;
        self.lost(r, "complete of a completed record with another token");
        let r = self.store.release(&key, &lease).await;
        self.lost(r, "release of a completed record");
        let got = self.record(&key, now + 3).await;
        check!(
            self,
            got.and_then(|r| r.data).as_deref() == Some(data),
            "a lost complete or release leaves the record alone"
        );
    }

    pub(super) async fn expiry(&mut self) {
        let key = self.key("expiry");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        let expires_at_s = now / 1000 + 10;
        self.complete(&key, &lease, Some("\"old\""), expires_at_s)
            .await
            .expect("complete");
        let later = expires_at_s * 1000 + 1;
        let got = self.record(&key, later).await;
        check!(
            self,
            got.is_none(),
            "get must not return an expired record, got {got:?}"
        );
        let fresh = self.acquire(&key, later, 60_000).await;
        check!(
            self,
            fresh.token != lease.token,
            "a claim after expiry gets a new lease"
        );
        // An expired in-progress record is free too, whatever its lease says.
        let key = self.key("expiry-in-progress");
        let mut request = self.request(&key, now, 10 * 3_600_000);
        request.expires_at_s = now / 1000 + 5;
        assert!(matches!(
            self.store.claim(request).await,
            Ok(Claim::Acquired(_))
        ));
        self.acquire(&key, (now / 1000 + 6) * 1000, 60_000).await;
    }

    pub(super) async fn release_and_extend(&mut self) {
        let key = self.key("release");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        let stranger = Lease::new(LeaseToken::new(), now + 60_000);
        let r = self.store.release(&key, &stranger).await;
        self.lost(r, "release with another token");
        let r = self.store.extend(&key, &stranger, now + 120_000).await;
        self.lost(r, "extend with another token");
        self.store
            .extend(&key, &lease, now + 120_000)
            .await
            .expect("extend with the lease");
        let got = self.record(&key, now + 1).await.expect("a record");
        check!(
            self,
            got.lease.map(|l| l.until_ms) == Some(now + 120_000),
            "extend moves the lease end"
        );
        // Still held after the original lease end, thanks to the extension.
        let held = self.existing(&key, now + 90_000).await;
        check!(
            self,
            held.status == Status::InProgress,
            "an extended lease still holds the key"
        );
        self.store
            .release(&key, &lease)
            .await
            .expect("release with the lease");
        let got = self.record(&key, now + 2).await;
        check!(
            self,
            got.is_none(),
            "release deletes the claim, got {got:?}"
        );
        let r = self.store.release(&key, &lease).await;
        check!(
            self,
            r.is_ok(),
            "a retried release (the claim is already gone) must succeed, got {r:?}"
        );
        self.acquire(&key, now + 3, 60_000).await;
        let r = self.store.release(&key, &lease).await;
        self.lost(r, "a release with the old token after another claim");
    }

    pub(super) async fn takeover_and_fencing(&mut self) {
        let key = self.key("takeover");
        let now = self.now;
        let slow = self.acquire(&key, now, 1_000).await;
        let held = self.existing(&key, now + 999).await;
        check!(
            self,
            held.status == Status::InProgress,
            "a live lease holds the key until its end"
        );
        let fast = self.acquire(&key, now + 1_000, 60_000).await;
        check!(
            self,
            fast.token != slow.token,
            "a takeover gets a new token"
        );
        let r = self
            .complete(&key, &slow, Some("\"slow\""), now / 1000 + 100)
            .await;
        self.lost(r, "a late complete of a taken-over claim");
        let r = self.store.extend(&key, &slow, now + 90_000).await;
        self.lost(r, "a late extend of a taken-over claim");
        let r = self.store.release(&key, &slow).await;
        self.lost(r, "a late release of a taken-over claim");
        self.complete(&key, &fast, Some("\"fast\""), now / 1000 + 100)
            .await
            .expect("complete of the new claim");
        let got = self.record(&key, now + 1_001).await.expect("a record");
        check!(
            self,
            got.data.as_deref() == Some("\"fast\""),
            "the newer run's result stands"
        );
        // A completed record is not taken over when a lease would have lapsed.
        let done = self.existing(&key, now + 61_000).await;
        check!(
            self,
            done.status == Status::Completed,
            "a completed record has no lease to lapse"
        );
    }

    pub(super) async fn no_data_and_delete(&mut self) {
        let key = self.key("no-data");
        let now = self.now;
        let lease = self.acquire(&key, now, 60_000).await;
        self.complete(&key, &lease, None, now / 1000 + 100)
            .await
            .expect("complete without data");
        let done = self.existing(&key, now + 1).await;
        check!(
            self,
            done.status == Status::Completed && done.data.is_none(),
            "completed without data stays so, got {done:?}"
        );
        self.store.delete(&key).await.expect("delete");
        let got = self.record(&key, now + 2).await;
        check!(self, got.is_none(), "delete removes the record");
        self.store
            .delete(&key)
            .await
            .expect("delete of an absent key is fine");
        let lease = self.acquire(&key, now + 3, 60_000).await;
        self.store.delete(&key).await.expect("delete of a claim");
        let r = self
            .complete(&key, &lease, Some("1"), now / 1000 + 100)
            .await;
        self.lost(r, "complete after the claim was deleted");
        let got = self.record(&self.key("never-written"), now).await;
        check!(self, got.is_none(), "get of a never-written key is None");
    }
}
