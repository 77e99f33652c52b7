//! What the engine sends a store and what a claim returns.

use std::sync::Arc;

use super::record::{Lease, LeaseToken, Record};
use crate::key::Fingerprint;

/// What a claim asks for.
///
/// ```
/// use idem_core::{MemoryStore, Store};
/// use idem_core::store::{Claim, ClaimRequest, LeaseToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let now_ms = 1_700_000_000_000;
/// let claim = store
///     .claim(ClaimRequest {
///         key: "docs::claim#00",
///         now_ms,
///         token: LeaseToken::new(),
///         lease_until_ms: now_ms + 30_000,
///         expires_at_s: now_ms / 1000 + 3600,
///         fingerprint: None,
///     })
///     .await?;
/// assert!(matches!(claim, Claim::Acquired(lease) if lease.until_ms == now_ms + 30_000));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// The storage key.
    pub key: &'a str,
    /// The caller's clock, unix ms; stores compare expiry and leases against it.
    pub now_ms: u64,
    /// The token of the claim, the same for every attempt of one call: a
    /// store that finds an in-progress record holding it (its own write,
    /// applied but unanswered, then retried) returns `Acquired`.
    pub token: LeaseToken,
    /// End of the lease (unix ms) if the claim is acquired.
    pub lease_until_ms: u64,
    /// Expiry (unix s) of the in-progress record.
    pub expires_at_s: u64,
    /// Fingerprint to save with the claim.
    pub fingerprint: Option<&'a Fingerprint>,
}

/// The outcome of [`Store::claim`](super::Store::claim).
///
/// ```
/// use idem_core::{MemoryStore, Store};
/// use idem_core::store::{Claim, ClaimRequest, Status, LeaseToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let request = ClaimRequest {
///     key: "docs::outcome#00",
///     now_ms: 0,
///     token: LeaseToken::new(),
///     lease_until_ms: 60_000,
///     expires_at_s: 3600,
///     fingerprint: None,
/// };
/// assert!(matches!(store.claim(request.clone()).await?, Claim::Acquired(_)));
/// match store.claim(ClaimRequest { token: LeaseToken::new(), ..request }).await? {
///     Claim::Existing(record) => assert_eq!(record.status, Status::InProgress),
///     Claim::Acquired(_) => unreachable!("the first claim holds the key"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the body, then complete or release with this lease.
    Acquired(Lease),
    /// Someone holds or completed the key; here is the record (shared, so a
    /// store or cache that keeps records in memory hands it out uncopied).
    Existing(Arc<Record>),
}

/// What [`Store::complete`](super::Store::complete) saves.
///
/// ```
/// use idem_core::{MemoryStore, Store};
/// use idem_core::store::{Claim, ClaimRequest, Completion, Status, LeaseToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let key = "docs::complete#00";
/// let request = ClaimRequest { key, now_ms: 0, token: LeaseToken::new(), lease_until_ms: 60_000, expires_at_s: 3600, fingerprint: None };
/// let Claim::Acquired(lease) = store.claim(request).await? else { unreachable!() };
/// store
///     .complete(Completion { key, lease: &lease, data: Some("42"), fingerprint: None, expires_at_s: 7200 })
///     .await?;
/// let record = store.get(key, 1_000).await?.expect("saved");
/// assert_eq!((record.status, record.data.as_deref()), (Status::Completed, Some("42")));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    /// The storage key.
    pub key: &'a str,
    /// The lease of the claim being completed.
    pub lease: &'a Lease,
    /// The result as JSON, or `None` when it was too large to save.
    pub data: Option<&'a str>,
    /// The fingerprint the claim was made with, if any (the engine always
    /// passes the claim's own; a store may write it again or keep the claim's).
    pub fingerprint: Option<&'a Fingerprint>,
    /// New expiry, unix s.
    pub expires_at_s: u64,
}
