//! Records: what a store keeps per key.

use std::fmt;
use std::sync::Arc;

use crate::key::Fingerprint;

/// Whether a record's body is still running or has finished.
///
/// ```
/// use idem_core::Status;
/// assert_eq!(Status::parse(Status::InProgress.as_str()), Some(Status::InProgress));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A claim is held; the body runs (or crashed and its lease will lapse).
    InProgress,
    /// The body succeeded and its result is saved.
    Completed,
}

impl Status {
    /// The spelling of Powertools' tables: `INPROGRESS` / `COMPLETED`.
    ///
    /// ```
    /// assert_eq!(idem_core::Status::Completed.as_str(), "COMPLETED");
    /// assert_eq!(idem_core::Status::InProgress.to_string(), "INPROGRESS");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "INPROGRESS",
            Status::Completed => "COMPLETED",
        }
    }

    /// Parses [`Status::as_str`]'s spelling.
    ///
    /// ```
    /// use idem_core::Status;
    /// assert_eq!(Status::parse("COMPLETED"), Some(Status::Completed));
    /// assert_eq!(Status::parse("EXPIRED"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "INPROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claim on a key: whoever holds the token may complete, release or extend
/// it, until `until_ms`; after that another run may take the key over and the
/// token stops matching (fencing).
///
/// ```
/// use idem_core::{ClaimRequest, Claim, MemoryStore, Store, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let store = MemoryStore::new();
/// let request = |now_ms| ClaimRequest {
///     key: "docs::lease#00",
///     now_ms,
///     lease_until_ms: now_ms + 1_000,
///     expires_at: 100_000,
///     fingerprint: None,
/// };
/// let Claim::Acquired(first) = store.claim(request(0)).await? else { unreachable!() };
/// // The lease lapses at 1_000 ms; a later claim takes the key over.
/// let Claim::Acquired(second) = store.claim(request(1_000)).await? else { unreachable!() };
/// assert_ne!(first.token, second.token);
/// // The first holder is fenced off.
/// assert!(matches!(store.release("docs::lease#00", &first).await, Err(StoreError::LeaseLost)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// Random token naming this claim.
    pub token: String,
    /// Unix time in milliseconds at which the claim lapses.
    pub until_ms: u64,
}

impl Lease {
    /// A lease with a fresh random token.
    ///
    /// ```
    /// let a = idem_core::Lease::new(1_000);
    /// let b = idem_core::Lease::new(1_000);
    /// assert_ne!(a.token, b.token);
    /// ```
    pub fn new(until_ms: u64) -> Self {
        Lease {
            token: new_token(),
            until_ms,
        }
    }
}

/// 128 bits as hex: a per-process random half (std's randomly seeded
/// `RandomState`, the pid and the time, through blake3) and a counter. Unique
/// across processes and calls, which is all fencing needs, without pulling in
/// an RNG crate for one call site.
fn new_token() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let mut h = blake3::Hasher::new();
        h.update(&std::process::id().to_le_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        h.update(&now.as_nanos().to_le_bytes());
        let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
        h.update(&random.to_le_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.finalize().as_bytes()[..8]);
        u64::from_le_bytes(first)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut token = String::with_capacity(32);
    crate::key::push_hex(&mut token, &seed.to_be_bytes());
    crate::key::push_hex(&mut token, &n.to_be_bytes());
    token
}

/// One record of a store.
///
/// ```
/// use idem_core::{Record, Status};
///
/// let done = Record {
///     key: "billing::charge#00".into(),
///     status: Status::Completed,
///     expires_at: 1_700_003_600,
///     lease: None,
///     fingerprint: None,
///     data: Some(r#"{"receipt":"r-1"}"#.into()),
/// };
/// assert!(!done.is_claimable(1_700_000_000_000)); // replayed until it expires
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The storage key (`namespace#digest`).
    pub key: String,
    /// In progress or completed.
    pub status: Status,
    /// Unix time in seconds after which the record counts as absent.
    pub expires_at: u64,
    /// The claim, while in progress.
    pub lease: Option<Lease>,
    /// Fingerprint of the validated payload parts, if any.
    pub fingerprint: Option<Fingerprint>,
    /// The body's result as JSON. `None` on a completed record means the
    /// result was too large to save: replays get `ReplayUnavailable`.
    pub data: Option<String>,
}

impl Record {
    /// Whether the record is past `expires_at` at `now_ms` (and so counts as absent).
    ///
    /// ```
    /// use idem_core::{Record, Status};
    /// let rec = Record {
    ///     key: "ns#00".into(),
    ///     status: Status::Completed,
    ///     expires_at: 100, // seconds
    ///     lease: None,
    ///     fingerprint: None,
    ///     data: None,
    /// };
    /// assert!(!rec.is_expired(99_999)); // milliseconds
    /// assert!(rec.is_expired(100_000));
    /// ```
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.saturating_mul(1000) <= now_ms
    }

    /// Whether a new claim may take this record over at `now_ms`: it expired,
    /// or it is in progress and its lease lapsed.
    ///
    /// ```
    /// use idem_core::{Lease, Record, Status};
    /// let rec = Record {
    ///     key: "ns#00".into(),
    ///     status: Status::InProgress,
    ///     expires_at: 100,
    ///     lease: Some(Lease::new(5_000)),
    ///     fingerprint: None,
    ///     data: None,
    /// };
    /// assert!(!rec.is_claimable(4_999));
    /// assert!(rec.is_claimable(5_000));
    /// ```
    pub fn is_claimable(&self, now_ms: u64) -> bool {
        self.is_expired(now_ms)
            || (self.status == Status::InProgress
                && self.lease.as_ref().is_none_or(|l| l.until_ms <= now_ms))
    }
}

/// What a claim asks for.
///
/// ```
/// use idem_core::{Claim, ClaimRequest, MemoryStore, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let now_ms = 1_700_000_000_000;
/// let claim = store
///     .claim(ClaimRequest {
///         key: "docs::claim#00",
///         now_ms,
///         lease_until_ms: now_ms + 30_000,
///         expires_at: now_ms / 1000 + 3600,
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
    /// End of the lease (unix ms) if the claim is acquired. The store makes
    /// the lease (`Lease::new(lease_until_ms)`) only when it writes one, so a
    /// duplicate costs no token.
    pub lease_until_ms: u64,
    /// Expiry (unix s) of the in-progress record.
    pub expires_at: u64,
    /// Fingerprint to save with the claim.
    pub fingerprint: Option<&'a Fingerprint>,
}

/// The outcome of [`Store::claim`](crate::Store::claim).
///
/// ```
/// use idem_core::{Claim, ClaimRequest, MemoryStore, Status, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let request = ClaimRequest {
///     key: "docs::outcome#00",
///     now_ms: 0,
///     lease_until_ms: 60_000,
///     expires_at: 3600,
///     fingerprint: None,
/// };
/// assert!(matches!(store.claim(request.clone()).await?, Claim::Acquired(_)));
/// match store.claim(request).await? {
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

/// What [`Store::complete`](crate::Store::complete) saves.
///
/// ```
/// use idem_core::{Claim, ClaimRequest, Completion, MemoryStore, Status, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::StoreError> {
/// let store = MemoryStore::new();
/// let key = "docs::complete#00";
/// let request = ClaimRequest { key, now_ms: 0, lease_until_ms: 60_000, expires_at: 3600, fingerprint: None };
/// let Claim::Acquired(lease) = store.claim(request).await? else { unreachable!() };
/// store
///     .complete(Completion { key, lease: &lease, data: Some("42"), fingerprint: None, expires_at: 7200 })
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
    pub expires_at: u64,
}
