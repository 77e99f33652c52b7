//! `MemoryStore`: records in this process's memory.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

// Stored keys end in a blake3 digest, so a caller cannot aim them at one
// bucket: a fast hasher is safe here, and SipHash was a tenth of a replay.
use foldhash::fast::RandomState;
// A table rather than a map: the key is hashed once for both the shard and
// the slot, and is kept once, in the record.
use hashbrown::hash_table::{Entry, HashTable, OccupiedEntry};

use crate::store::{Claim, ClaimRequest, Completion, Lease, Record, Status};
use crate::store::{Store, StoreError, StoreFuture};

const SHARDS: usize = 32;
/// A shard is swept of expired records when it has grown to twice its size
/// after the last sweep, so sweeping costs O(1) amortized per insert.
const MIN_SWEEP_LEN: usize = 64;

/// A [`Store`] in this process's memory: for tests, local development and
/// single-process services. It deduplicates only within one process; on AWS
/// Lambda every instance has its own, so use a shared store there
/// (`idem-dynamo`).
///
/// Keys are spread over 32 mutex-guarded shards; no lock is held across an
/// `await`. Expiry is honoured on every read, and expired records are swept
/// as the map grows, so a long-running process does not grow without bound.
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
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_data_bytes: Option<usize>,
}

#[derive(Debug, Default)]
struct Shard {
    records: HashTable<Arc<Record>>,
    sweep_at: usize,
}

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
                        records: HashTable::new(),
                        sweep_at: MIN_SWEEP_LEN,
                    })
                })
                .collect(),
            hasher: RandomState::default(),
            max_data_bytes: None,
        }
    }

    /// Limits a saved result to `bytes` of JSON, like a real backend's item
    /// size limit; larger results follow the `ReplayUnavailable` policy.
    ///
    /// ```
    /// let store = idem_core::MemoryStore::new().with_max_data_bytes(1024);
    /// # let _ = store;
    /// ```
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
        self.shards.iter().map(|s| lock(s).records.len()).sum()
    }

    /// Whether the store holds no records.
    ///
    /// ```
    /// assert!(idem_core::MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard of `key`, locked, and the key's hash within it.
    fn shard(&self, key: &str) -> (MutexGuard<'_, Shard>, u64) {
        let hash = self.hasher.hash_one(key);
        // Bits the table does not use for the slot (low) or its tags (top 7).
        let index = (hash >> 32) as usize % SHARDS;
        (lock(&self.shards[index]), hash)
    }

    /// Runs `f` on the live record of `key` whose lease token matches.
    /// Runs `f` on the record if `lease` holds it (its token is the
    /// record's); a record another run holds is [`StoreError::LeaseLost`],
    /// and so is no record at all unless `absent` says otherwise.
    fn with_lease<T>(
        &self,
        key: &str,
        lease: &Lease,
        absent: Result<T, StoreError>,
        f: impl FnOnce(OccupiedEntry<'_, Arc<Record>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (mut shard, hash) = self.shard(key);
        match shard.records.find_entry(hash, |r| r.key == key) {
            Ok(held) if held_by(held.get(), lease) => f(held),
            Ok(_) => Err(StoreError::LeaseLost),
            Err(_) => absent,
        }
    }
}

fn held_by(record: &Record, lease: &Lease) -> bool {
    lease
        .token
        .is_some_and(|token| record.lease.as_ref().is_some_and(|l| l.is_held_by(token)))
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shard {
    fn sweep(&mut self, now_ms: u64) {
        if self.records.len() >= self.sweep_at {
            self.records.retain(|r| !r.is_expired(now_ms));
            self.sweep_at = (self.records.len() * 2).max(MIN_SWEEP_LEN);
        }
    }
}

impl Store for MemoryStore {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let (mut shard, hash) = self.shard(request.key);
            shard.sweep(request.now_ms);
            // One probe serves the duplicate and the new claim alike.
            let entry = shard.records.entry(
                hash,
                |r| r.key == request.key,
                |r| self.hasher.hash_one(&r.key),
            );
            if let Entry::Occupied(held) = &entry {
                let record = held.get();
                // Our own claim, met again by a retry: it is ours.
                let ours = record.status == Status::InProgress
                    && record
                        .lease
                        .as_ref()
                        .is_some_and(|l| l.is_held_by(request.token));
                if !ours && !record.is_claimable(request.now_ms) {
                    return Ok(Claim::Existing(Arc::clone(record)));
                }
            }
            let lease = Lease::new(request.token, request.lease_until_ms);
            entry.insert(Arc::new(Record {
                key: request.key.to_owned(),
                status: Status::InProgress,
                expires_at_s: request.expires_at_s,
                lease: Some(lease.clone()),
                fingerprint: request.fingerprint.cloned(),
                data: None,
            }));
            Ok(Claim::Acquired(lease))
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
            let lost = Err(StoreError::LeaseLost);
            self.with_lease(completion.key, completion.lease, lost, |mut held| {
                if held.get().status == Status::Completed {
                    // Completed under this very lease: a retry whose first
                    // try was applied. Nothing left to do.
                    return Ok(());
                }
                // Copies only if a caller still holds the in-progress record.
                let r = Arc::make_mut(held.get_mut());
                r.status = Status::Completed;
                r.expires_at_s = completion.expires_at_s;
                r.data = completion.data.map(str::to_owned);
                Ok(())
            })
        })
    }

    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Already gone (a retried release, or deleted): what was wanted.
            self.with_lease(key, lease, Ok(()), |held| {
                if held.get().status == Status::Completed {
                    return Err(StoreError::LeaseLost);
                }
                held.remove();
                Ok(())
            })
        })
    }

    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (mut shard, hash) = self.shard(key);
            match shard.records.find_entry(hash, |r| r.key == key) {
                Ok(mut held)
                    if held.get().status == Status::InProgress && held_by(held.get(), lease) =>
                {
                    if let Some(l) = Arc::make_mut(held.get_mut()).lease.as_mut() {
                        l.until_ms = until_ms;
                    }
                    Ok(())
                }
                _ => Err(StoreError::LeaseLost),
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            let (shard, hash) = self.shard(key);
            Ok(shard
                .records
                .find(hash, |r| r.key == key)
                .filter(|r| !r.is_expired(now_ms))
                .map(|r| Record::clone(r)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (mut shard, hash) = self.shard(key);
            if let Ok(r) = shard.records.find_entry(hash, |r| r.key == key) {
                r.remove();
            }
            Ok(())
        })
    }

    fn max_data_bytes(&self) -> Option<usize> {
        self.max_data_bytes
    }
}
