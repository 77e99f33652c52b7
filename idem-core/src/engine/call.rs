//! The claim loop of one call whose key is known: acquire and run the body,
//! replay a completed record, or deal with one in progress (fail, or wait
//! for it by reading, not writing).

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::policy::{InProgress, OnCancel};
use super::{millis, retry};
use crate::clock::Clock;
use crate::error::Error;
use crate::key::{Fingerprint, Key};
use crate::store::{Claim, ClaimRequest, LeaseToken, Record, Status, StoreError};
use crate::telemetry::{self, Label};

/// First pause between polls of `in_progress = wait`; doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_secs(1);
/// The longest `retry_after` an `InProgress` error suggests: most bodies are
/// far shorter than their lease, so the rest of the lease (5 minutes by
/// default) would keep a retry waiting long after the first run finished.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A call whose key is known: the claim loop and the body's execution.
pub(crate) struct Call<'c> {
    pub(crate) key: Key,
    pub(crate) fingerprint: Option<Fingerprint>,
    pub(crate) store: crate::default::StoreHandle<'c>,
    pub(crate) clock: &'c dyn Clock,
    pub(crate) ttl: Duration,
    pub(crate) lease: Duration,
    pub(crate) deadline_ms: Option<u64>,
    pub(crate) in_progress: InProgress,
    pub(crate) on_cancel: OnCancel,
}

/// What the claim loop found on one look at the store.
enum Found {
    Claimed(crate::store::Lease),
    Held(std::sync::Arc<Record>),
    Free,
}

impl Call<'_> {
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The end of a lease taken or renewed at `now_ms`: `lease` from now,
    /// never past the deadline.
    pub(crate) fn lease_until(&self, now_ms: u64) -> u64 {
        let until = now_ms.saturating_add(millis(self.lease));
        self.deadline_ms.map_or(until, |d| until.min(d))
    }

    pub(crate) fn expires_at_s(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(millis(self.ttl)).div_ceil(1000)
    }

    pub(crate) fn short(&self) -> String {
        self.key.short().to_string()
    }

    pub(crate) fn store_error(&self, source: StoreError) -> Error {
        telemetry::store_error(self.key.namespace_cow());
        Error::Store {
            namespace: self.key.namespace().to_owned(),
            key: self.short(),
            source,
        }
    }

    pub(crate) async fn execute<T, E, F, Fut>(&self, body: F) -> (Label, Result<T, E>)
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // One token for every attempt of this call, so a store that meets it
        // again (a claim applied but unanswered, then retried) knows the
        // claim is its own.
        let token = LeaseToken::new();
        // Read only when a call first has to wait: most never do.
        let mut started = None;
        let mut pause = FIRST_POLL;
        let mut found = self.claim(token).await;
        loop {
            let now = self.now_ms();
            let record = match found {
                Err(e) => return (Label::Error, Err(self.store_error(e).into())),
                // Boxed so the replay path's future stays small: the body,
                // lease renewal and saving are only needed after a claim.
                Ok(Found::Claimed(lease)) => return Box::pin(self.run_body(lease, body)).await,
                Ok(Found::Free) => {
                    found = self.claim(token).await;
                    continue;
                }
                Ok(Found::Held(record)) => record,
            };
            if let Err(e) = self.check_fingerprint(&record) {
                return (Label::Error, Err(e.into()));
            }
            if record.status == Status::Completed {
                return match self.replay(&record) {
                    Ok(v) => (Label::Replayed, Ok(v)),
                    Err(e) => (Label::Error, Err(e.into())),
                };
            }
            let lapses_in = Duration::from_millis(
                record
                    .lease
                    .as_ref()
                    .map_or(0, |l| l.until_ms.saturating_sub(now)),
            );
            let waited = started
                .get_or_insert_with(tokio::time::Instant::now)
                .elapsed();
            let left = match self.in_progress {
                InProgress::Fail => Duration::ZERO,
                InProgress::Wait(None) => Duration::MAX,
                InProgress::Wait(Some(max)) => max.saturating_sub(waited),
            };
            if left.is_zero() {
                let e = Error::InProgress {
                    namespace: self.key.namespace().to_owned(),
                    key: self.short(),
                    retry_after: lapses_in.min(MAX_RETRY_AFTER),
                    lease_lapses_in: lapses_in,
                };
                return (Label::InProgress, Err(e.into()));
            }
            // Look again no later than the lease lapses, when the key is free.
            let nap = pause.min(left).min(lapses_in.max(Duration::from_millis(1)));
            // Boxed: the timer is large, and only a waiting call needs it.
            Box::pin(tokio::time::sleep(nap)).await;
            pause = (pause * 2).min(MAX_POLL);
            found = self.look().await;
        }
    }

    /// Tries to claim the key (retrying a write whose outcome is unknown).
    async fn claim(&self, token: LeaseToken) -> Result<Found, StoreError> {
        let now = self.now_ms();
        let request = ClaimRequest {
            key: self.key.storage_key(),
            now_ms: now,
            token,
            lease_until_ms: self.lease_until(now),
            expires_at_s: self.expires_at_s(now),
            fingerprint: self.fingerprint.as_ref(),
        };
        match retry::claim(self.store.get(), request).await {
            Ok(Claim::Acquired(lease)) => Ok(Found::Claimed(lease)),
            Ok(Claim::Existing(record)) => Ok(Found::Held(record)),
            Err(e) => Err(e),
        }
    }

    /// A waiting call's look at the record: a read, which costs a fraction
    /// of a conditional write on DynamoDB and is no write on any store. Only
    /// a record that could be claimed is worth a claim.
    async fn look(&self) -> Result<Found, StoreError> {
        let now = self.now_ms();
        match self.store.get().get(self.key.storage_key(), now).await? {
            Some(record) if !record.is_claimable(now) => Ok(Found::Held(record.into())),
            _ => Ok(Found::Free),
        }
    }

    fn check_fingerprint(&self, record: &Record) -> Result<(), Error> {
        match (&self.fingerprint, &record.fingerprint) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(Error::PayloadMismatch {
                namespace: self.key.namespace().to_owned(),
                key: self.short(),
            }),
            _ => Ok(()),
        }
    }

    fn replay<T: DeserializeOwned>(&self, record: &Record) -> Result<T, Error> {
        let data = record
            .data
            .as_deref()
            .ok_or_else(|| Error::ReplayUnavailable {
                namespace: self.key.namespace().to_owned(),
                key: self.short(),
            })?;
        serde_json::from_str(data)
            .map_err(|e| Error::decode(self.key.namespace(), self.short(), &e))
    }
}
