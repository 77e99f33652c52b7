//! Records: what a store keeps per key, and the claim's lease.

use std::fmt;

use crate::key::Fingerprint;

/// Whether a record's body is still running or has finished.
///
/// ```
/// use idem_core::store::Status;
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
    /// assert_eq!(idem_core::store::Status::Completed.as_str(), "COMPLETED");
    /// assert_eq!(idem_core::store::Status::InProgress.to_string(), "INPROGRESS");
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
    /// use idem_core::store::Status;
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

/// The random token naming one claim. Whoever holds it may complete,
/// release or extend the claim; after a takeover it stops matching (fencing).
///
/// The engine makes one per call and sends it with every attempt of that
/// call's claim, so a store that meets its own token again (a write that was
/// applied but whose reply was lost, then retried) knows the claim is its own.
///
/// ```
/// use idem_core::store::LeaseToken;
///
/// let a = LeaseToken::new();
/// let b = LeaseToken::new();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string().len(), 32); // hex, as stores write it
/// assert_eq!(LeaseToken::parse(&a.to_string()), Some(a));
/// assert_eq!(LeaseToken::parse("written by someone else"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
// Two halves rather than a `u128`: a `u128` is 16-byte aligned, and every
// future holding a token (the engine's call, each claim) was padded for it.
pub struct LeaseToken([u64; 2]);

impl LeaseToken {
    /// A fresh token, unique across processes and calls.
    ///
    /// 128 bits: a per-thread half (a per-process random value, from std's
    /// randomly seeded `RandomState`, the pid and the time through blake3,
    /// plus the thread's number) and a per-thread counter. Per thread, so a
    /// call writes no memory shared with other threads (a shared counter's
    /// cache line moved between cores on every call). Uniqueness is all
    /// fencing needs; no RNG crate for one call site.
    #[inline]
    pub fn new() -> Self {
        use std::cell::Cell;
        use std::sync::atomic::{AtomicU64, Ordering};
        static THREADS: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static NEXT: Cell<[u64; 2]> = Cell::new([
                process_seed().wrapping_add(THREADS.fetch_add(1, Ordering::Relaxed)),
                0,
            ]);
        }
        NEXT.with(|next| {
            let [high, low] = next.get();
            next.set([high, low.wrapping_add(1)]);
            LeaseToken([high, low])
        })
    }

    /// Reads a token as [`Display`](fmt::Display) writes it (32 hex digits);
    /// anything else (a token another writer left) is `None`, and never
    /// matches one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        // All ASCII, so byte 16 is a character boundary.
        let half = |h: &str| u64::from_str_radix(h, 16).ok();
        Some(LeaseToken([half(&text[..16])?, half(&text[16..])?]))
    }
}

impl Default for LeaseToken {
    fn default() -> Self {
        Self::new()
    }
}

fn process_seed() -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
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
    })
}

impl fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.0[0], self.0[1])
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseToken({self})")
    }
}

/// A claim on a key: its token and when it lapses.
///
/// While a record is in progress this is the live claim; once it is
/// completed, the claim that completed it (so a retried `complete` finds its
/// own token and succeeds). A record another writer left (Powertools) has a
/// lease end but no token: `token` is `None` and matches nothing.
///
/// ```
/// use idem_core::store::{ClaimRequest, Claim, LeaseToken, Store};
/// use idem_core::{MemoryStore, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let store = MemoryStore::new();
/// let request = |now_ms| ClaimRequest {
///     key: "docs::lease#00",
///     now_ms,
///     token: LeaseToken::new(),
///     lease_until_ms: now_ms + 1_000,
///     expires_at_s: 100_000,
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
    /// The claim's token; `None` on a record another writer left.
    pub token: Option<LeaseToken>,
    /// Unix time in milliseconds at which the claim lapses.
    pub until_ms: u64,
}

impl Lease {
    /// The lease a claim with `token` holds until `until_ms`.
    ///
    /// ```
    /// use idem_core::store::{Lease, LeaseToken};
    /// let token = LeaseToken::new();
    /// assert!(Lease::new(token, 1_000).is_held_by(token));
    /// assert!(!Lease::new(token, 1_000).is_held_by(LeaseToken::new()));
    /// ```
    pub fn new(token: LeaseToken, until_ms: u64) -> Self {
        Lease {
            token: Some(token),
            until_ms,
        }
    }

    /// Whether `token` is this lease's: a write fenced by it may proceed.
    #[inline]
    pub fn is_held_by(&self, token: LeaseToken) -> bool {
        self.token == Some(token)
    }

    /// The token as a store compares it in a fenced write: its 32 hex
    /// digits, or `""` for a lease without one (read from a record another
    /// writer left), which matches no record, since `""` is never a token
    /// idem writes.
    ///
    /// ```
    /// use idem_core::store::{Lease, LeaseToken};
    /// let token = LeaseToken::new();
    /// assert_eq!(Lease::new(token, 1_000).token_text(), token.to_string());
    /// assert_eq!(Lease { token: None, until_ms: 1_000 }.token_text(), "");
    /// ```
    pub fn token_text(&self) -> String {
        self.token.map(|t| t.to_string()).unwrap_or_default()
    }
}

/// One record of a store.
///
/// ```
/// use idem_core::store::{Record, Status};
///
/// let done = Record {
///     key: "billing::charge#00".into(),
///     status: Status::Completed,
///     expires_at_s: 1_700_003_600,
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
    pub expires_at_s: u64,
    /// The claim, while in progress.
    pub lease: Option<Lease>,
    /// Fingerprint of the validated payload parts, if any.
    pub fingerprint: Option<Fingerprint>,
    /// The body's result as JSON. `None` on a completed record means the
    /// result was too large to save: replays get `ReplayUnavailable`.
    pub data: Option<String>,
}

impl Record {
    /// Whether the record is past `expires_at_s` at `now_ms` (and so counts as absent).
    ///
    /// ```
    /// use idem_core::store::{Record, Status};
    /// let rec = Record {
    ///     key: "ns#00".into(),
    ///     status: Status::Completed,
    ///     expires_at_s: 100, // seconds
    ///     lease: None,
    ///     fingerprint: None,
    ///     data: None,
    /// };
    /// assert!(!rec.is_expired(99_999)); // milliseconds
    /// assert!(rec.is_expired(100_000));
    /// ```
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_s.saturating_mul(1000) <= now_ms
    }

    /// Whether a new claim may take this record over at `now_ms`: it expired,
    /// or it is in progress and its lease lapsed.
    ///
    /// ```
    /// use idem_core::store::{Lease, LeaseToken, Record, Status};
    /// let rec = Record {
    ///     key: "ns#00".into(),
    ///     status: Status::InProgress,
    ///     expires_at_s: 100,
    ///     lease: Some(Lease::new(LeaseToken::new(), 5_000)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_a_per_process_and_thread_half() {
        // Two processes' counters both start at 0: only the seed half keeps
        // their tokens apart, so it must not be a constant.
        let seed = process_seed();
        assert!(seed > 1, "{seed}");
        let here = || LeaseToken::new().0;
        let (a, b) = (here(), here());
        assert_eq!(
            (a[0], a[1] + 1),
            (b[0], b[1]),
            "one thread: one half, counting"
        );
        assert!(
            a[0].wrapping_sub(seed) < 1 << 20,
            "the seed plus the thread's number"
        );
        let there = std::thread::spawn(here)
            .join()
            .unwrap_or_else(|_| unreachable!());
        assert_ne!(there[0], a[0], "another thread, another half");
    }
}
