//! `MemoryStore`: records in this process's memory.
//!
//! Records are kept compact, since a long-running process may hold millions:
//! a canonical stored key (`namespace#64 hex digits`, what the engine makes)
//! is kept as its 32-byte digest and a per-shard namespace number, a small
//! result inline, and the rest (a fingerprint, a larger result, a key of
//! another form) in one boxed side record. Each shard keeps its records in a
//! slab of chunks that double in size and indexes them with a hash table of
//! 8-byte entries (slot number, half of the hash), so growing the index never
//! reads a record, growing the slab never copies one, and a shard of a few
//! records takes a few hundred bytes.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

// Stored keys end in a blake3 digest, and the hasher is randomly seeded, so a
// caller cannot aim keys at one bucket: a fast hasher is safe here, and
// SipHash was a tenth of a replay.
use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

mod key_ref;
mod shard;
mod slot;

use key_ref::*;
use shard::*;
use slot::*;

use crate::key::Fingerprint;
use crate::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Record, Status};
use crate::store::{Store, StoreError, StoreFuture};

/// Many shards, so that each stays small: a shard's index grows (rehashes)
/// all at once, and at 2 million records a shard holds about 2,000 entries,
/// a fraction of a millisecond of work.
const SHARDS: usize = 1024;
/// Slots a claim looks at for expired records, walking its shard's slab
/// round and round: bounded work per call, and more than the one slot a
/// claim can add, so the sweep keeps up with any rate of expiry.
const SWEEP_STEP: u32 = 2;
/// Results up to this many bytes of JSON live in the record itself.
const INLINE: usize = 18;
/// How long after its expiry a record is swept out of memory: a clock
/// stepped back by less than this never makes a completed call absent.
const SWEEP_GRACE_MS: u64 = 5 * 60 * 1000;

/// A [`Store`] in this process's memory: for tests, local development and
/// single-process services. It deduplicates only within one process; on AWS
/// Lambda every instance has its own, so use a shared store there
/// (`idem-dynamo`).
///
/// Keys are spread over 1024 mutex-guarded shards; no lock is held across an
/// `await`. Expiry is honoured on every read, and once a shard may hold a
/// record past its expiry, every claim there sweeps a couple of its records
/// (round and round), so a long-running process does not grow without bound
/// and no single call pays for a whole sweep. (Until then, claims skip the
/// sweep: each shard keeps a lower bound of its records' expiries.) A record
/// leaves memory 5 minutes after it expires, not at once, so a clock stepped
/// back by less than that still replays it. A record with a small result (up
/// to 18 bytes of JSON) takes about 120 bytes, index included, from about
/// 100,000 records on (about 230 bytes at 10,000, where the 1024 shards' own
/// tables weigh more); at 2 million records the slowest call spends well
/// under a millisecond of CPU (`examples/memory_scale.rs`).
///
/// ```
/// use idem_core::{Idempotent, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_core::Error> {
/// let store = MemoryStore::new();
/// let run = |n: u32| {
///     Idempotent::new("docs::double")
///         .store(&store)
///         .key("n", &n)
///         .run(move || async move { Ok::<_, idem_core::Error>(n * 2) })
/// };
/// assert_eq!(run(21).await?, 42);
/// assert_eq!(run(21).await?, 42); // replayed
/// assert_eq!(store.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_data_bytes: Option<usize>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.len())
            .field("max_data_bytes", &self.max_data_bytes)
            .finish()
    }
}

/// One shard: records in a slab, an index from key hash to slot, and the
/// namespaces its canonical keys use.
impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store without a size limit.
    ///
    /// ```
    /// let store = idem_core::MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        MemoryStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        index: HashTable::new(),
                        slab: Slab::default(),
                        namespaces: Namespaces::default(),
                        cursor: 0,
                        earliest_s: u64::MAX,
                        pass_min_s: u64::MAX,
                    })
                })
                .collect(),
            hasher: RandomState::default(),
            max_data_bytes: None,
        }
    }

    /// Limits a saved result to `bytes` of JSON (default: no limit), like a
    /// real backend's item size limit; larger results follow the
    /// `ReplayUnavailable` policy.
    pub fn with_max_data_bytes(mut self, bytes: usize) -> Self {
        self.max_data_bytes = Some(bytes);
        self
    }

    /// Number of records held, expired ones not yet swept included.
    ///
    /// ```
    /// use idem_core::{Idempotent, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::Error> {
    /// let store = MemoryStore::new();
    /// for id in ["a", "b", "a"] {
    ///     Idempotent::new("docs::len").store(&store).key("id", id)
    ///         .run(|| async { Ok::<_, idem_core::Error>(()) }).await?;
    /// }
    /// assert_eq!(store.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).index.len()).sum()
    }

    /// Whether the store holds no records.
    ///
    /// ```
    /// assert!(idem_core::MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key's hash: the high half picks the shard, the low half is
    /// kept in the shard's index.
    fn hash(&self, key: &KeyRef<'_>) -> u64 {
        hash_key(&self.hasher, key)
    }

    /// The shard of `key`, locked, and the key's hash within it.
    fn shard(&self, key: &KeyRef<'_>) -> (MutexGuard<'_, Shard>, u32) {
        let hash = self.hash(key);
        let index = (hash >> 32) as usize % SHARDS;
        (lock(&self.shards[index]), hash as u32)
    }

    /// Runs `f` on the shard of `key`, locked, with the number of the slot
    /// holding `key` (if any) and the key's hash.
    fn with_slot<T>(&self, key: &str, f: impl FnOnce(Option<(&mut Shard, u32, u32)>) -> T) -> T {
        let parsed = KeyRef::parse(key);
        let (mut shard, hash) = self.shard(&parsed);
        match shard.find(&parsed, hash, &self.hasher) {
            Some(slot) => f(Some((&mut shard, slot, hash))),
            None => f(None),
        }
    }
}

impl Store for MemoryStore {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let key = KeyRef::parse(request.key);
            let (mut guard, hash) = self.shard(&key);
            let shard = &mut *guard;
            shard.sweep(request.now_ms, &self.hasher);
            let (ns, digest, whole) = match &key {
                KeyRef::Digest { ns, digest } => {
                    (shard.namespaces.intern(ns, &self.hasher), *digest, None)
                }
                KeyRef::Other(k) => (OTHER_KEY, [0; 32], Some(*k)),
            };
            // One probe serves the duplicate and the new claim alike.
            let Shard { index, slab, .. } = shard;
            let entry = index.entry(
                spread(hash),
                |e| Shard::holds(slab.get(e.slot), &key, ns),
                |e| spread(e.hash),
            );
            match entry {
                Entry::Occupied(held) => {
                    let slot = slab.get_mut(held.get().slot);
                    // Our own claim, met again by a retry: it is ours.
                    let ours = slot.status() == Status::InProgress && slot.token == request.token;
                    if !ours && !slot.is_claimable(request.now_ms) {
                        return Ok(Claim::Existing(slot.shared_record(request.key)));
                    }
                    *slot = Slot::new(ns, digest, &request, whole);
                }
                Entry::Vacant(vacant) => {
                    let slot = slab.alloc(Slot::new(ns, digest, &request, whole));
                    vacant.insert(IndexEntry { slot, hash });
                }
            }
            shard.note_expiry(request.expires_at_s);
            Ok(Claim::Acquired(Lease::new(
                request.token,
                request.lease_until_ms,
            )))
        })
    }

    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if let (Some(limit), Some(data)) = (self.max_data_bytes, completion.data) {
                if data.len() > limit {
                    return Err(StoreError::TooLarge {
                        size: data.len(),
                        limit,
                    });
                }
            }
            self.with_slot(completion.key, |found| {
                let Some((shard, i, _)) = found else {
                    return Err(StoreError::LeaseLost);
                };
                let slot = shard.slab.get_mut(i);
                if !slot.held_by(completion.lease) {
                    return Err(StoreError::LeaseLost);
                }
                if slot.status() == Status::Completed {
                    // Completed under this very lease: a retry whose first
                    // try was applied. Nothing left to do.
                    return Ok(());
                }
                slot.flags |= flag::COMPLETED;
                slot.expires_at_s = completion.expires_at_s;
                slot.set_data(completion.data);
                shard.note_expiry(completion.expires_at_s);
                Ok(())
            })
        })
    }

    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with_slot(key, |found| {
                // Already gone (a retried release, or deleted): what was wanted.
                let Some((shard, i, hash)) = found else {
                    return Ok(());
                };
                let slot = shard.slab.get(i);
                if !slot.held_by(lease) || slot.status() == Status::Completed {
                    return Err(StoreError::LeaseLost);
                }
                shard.remove(i, hash);
                Ok(())
            })
        })
    }

    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with_slot(key, |found| match found {
                Some((shard, i, _))
                    if shard.slab.get(i).status() == Status::InProgress
                        && shard.slab.get(i).held_by(lease) =>
                {
                    shard.slab.get_mut(i).lease_until_ms = until_ms;
                    Ok(())
                }
                _ => Err(StoreError::LeaseLost),
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            Ok(self.with_slot(key, |found| {
                found
                    .map(|(shard, i, _)| shard.slab.get(i))
                    .filter(|slot| !slot.is_expired(now_ms))
                    .map(|slot| slot.record(key))
            }))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with_slot(key, |found| {
                if let Some((shard, i, hash)) = found {
                    shard.remove(i, hash);
                }
            });
            Ok(())
        })
    }

    fn max_data_bytes(&self) -> Option<usize> {
        self.max_data_bytes
    }
}

#[cfg(test)]
mod tests;
