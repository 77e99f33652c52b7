//! `MemoryStore`: records in this process's memory.
//!
//! Records are kept compact, since a long-running process may hold millions:
//! a canonical stored key (`namespace#64 hex digits`, what the engine makes)
//! is kept as its 32-byte digest and a per-shard namespace number, a small
//! result inline, and the rest (a fingerprint, a larger result, a key of
//! another form) in one boxed side record. Each shard keeps its records in a
//! slab of fixed-size chunks and indexes them with a hash table of 8-byte
//! entries (slot number, half of the hash), so growing the index never reads
//! a record, and growing the slab never copies one.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

// Stored keys end in a blake3 digest, and the hasher is randomly seeded, so a
// caller cannot aim keys at one bucket: a fast hasher is safe here, and
// SipHash was a tenth of a replay.
use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

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

/// A [`Store`] in this process's memory: for tests, local development and
/// single-process services. It deduplicates only within one process; on AWS
/// Lambda every instance has its own, so use a shared store there
/// (`idem-dynamo`).
///
/// Keys are spread over 1024 mutex-guarded shards; no lock is held across an
/// `await`. Expiry is honoured on every read, and every claim sweeps a
/// couple of its shard's records (round and round), so a long-running
/// process does not grow without bound and no single call pays for a whole
/// sweep. A record with a small result (up to 18 bytes of JSON) takes about
/// 120 bytes, index included; at 2 million records the slowest call spends
/// well under a millisecond of CPU (`examples/memory_scale.rs`).
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
struct Shard {
    index: HashTable<IndexEntry>,
    slab: Slab,
    namespaces: Namespaces,
    /// The next slot the sweep looks at.
    cursor: u32,
}

/// The namespaces of a shard's canonical keys, numbered in order of first
/// use. A few are scanned; past [`NS_SCAN`], they are also indexed by hash,
/// so a process with many namespaces does not scan them on every call.
#[derive(Default)]
struct Namespaces {
    names: Vec<Box<str>>,
    by_hash: HashTable<u32>,
}

const NS_SCAN: usize = 8;

impl Namespaces {
    fn get(&self, ns: &str, hasher: &RandomState) -> Option<u32> {
        if self.names.len() <= NS_SCAN {
            return self.names.iter().position(|n| &**n == ns).map(|i| i as u32);
        }
        let names = &self.names;
        self.by_hash
            .find(hasher.hash_one(ns), |&i| &*names[i as usize] == ns)
            .copied()
    }

    fn intern(&mut self, ns: &str, hasher: &RandomState) -> u32 {
        if let Some(i) = self.get(ns, hasher) {
            return i;
        }
        self.names.push(ns.into());
        let Namespaces { names, by_hash } = self;
        let rehash = |&i: &u32| hasher.hash_one(&*names[i as usize]);
        // Index all of them once the scan would pass `NS_SCAN`, then each new one.
        let from = match names.len() {
            n if n <= NS_SCAN => n,
            n if n == NS_SCAN + 1 => 0,
            n => n - 1,
        };
        for (i, name) in names.iter().enumerate().skip(from) {
            by_hash.insert_unique(hasher.hash_one(&**name), i as u32, rehash);
        }
        (names.len() - 1) as u32
    }

    fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// Slots in fixed-size chunks, so the slab grows without copying (a
/// reallocating `Vec` would copy a shard's records at every doubling), and
/// a free list of vacated slots.
#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Slot>>,
    free: Vec<u32>,
}

const CHUNK: usize = 256;

impl Slab {
    fn get(&self, i: u32) -> &Slot {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn get_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    /// Puts `new` in a free slot (or a new one) and returns its number.
    fn alloc(&mut self, new: Slot) -> u32 {
        if let Some(i) = self.free.pop() {
            *self.get_mut(i) = new;
            return i;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let full = (self.chunks.len() - 1) * CHUNK;
        let chunk = self.chunks.last_mut().expect("a chunk with room");
        chunk.push(new);
        (full + chunk.len() - 1) as u32
    }

    /// Slots in use or vacant (not the chunks' unused capacity).
    fn len(&self) -> u32 {
        let full = self.chunks.len().saturating_sub(1) * CHUNK;
        (full + self.chunks.last().map_or(0, Vec::len)) as u32
    }

    /// Vacates slot `i`.
    fn vacate(&mut self, i: u32) {
        let slot = self.get_mut(i);
        slot.ns = FREE;
        slot.extra = None;
        self.free.push(i);
    }
}

/// A slot number and the low half of the key's hash (the shard was chosen
/// by the high half), so the index rehashes without reading records.
#[derive(Clone, Copy)]
struct IndexEntry {
    slot: u32,
    hash: u32,
}

/// The table hash of an index entry: hashbrown takes the slot from the low
/// bits and its tag from the top 7, so both come from the stored half.
fn spread(hash: u32) -> u64 {
    u64::from(hash) | (u64::from(hash) << 32)
}

/// One record, compactly (96 bytes). `ns` is the key's namespace number in
/// the shard, [`OTHER_KEY`] for a key kept whole in `extra`, or [`FREE`].
struct Slot {
    token: LeaseToken,
    digest: [u8; 32],
    lease_until_ms: u64,
    expires_at_s: u64,
    extra: Option<Box<Extra>>,
    ns: u32,
    flags: u8,
    data_len: u8,
    inline: [u8; INLINE],
}

/// What few records have: a key not of the canonical form, a fingerprint,
/// a result too long to inline, and, once a completed record has been
/// replayed, the [`Record`] handed out, so later replays copy nothing.
#[derive(Default)]
struct Extra {
    key: Option<Box<str>>,
    fingerprint: Option<Fingerprint>,
    data: Option<Box<str>>,
    shared: Option<Arc<Record>>,
}

const FREE: u32 = u32::MAX;
const OTHER_KEY: u32 = u32::MAX - 1;

mod flag {
    pub(super) const COMPLETED: u8 = 1;
    /// The result is inline (`data_len` bytes).
    pub(super) const INLINE_DATA: u8 = 2;
    /// The result is in `extra.data`.
    pub(super) const EXTRA_DATA: u8 = 4;
}

fn hash_key(hasher: &RandomState, key: &KeyRef<'_>) -> u64 {
    match key {
        KeyRef::Digest { ns, digest } => {
            let mut word = [0u8; 8];
            word.copy_from_slice(&digest[..8]);
            hasher.hash_one((*ns, u64::from_le_bytes(word)))
        }
        KeyRef::Other(key) => hasher.hash_one(*key),
    }
}

/// A stored key, parsed: the engine's canonical form, or anything else.
enum KeyRef<'k> {
    Digest { ns: &'k str, digest: [u8; 32] },
    Other(&'k str),
}

impl<'k> KeyRef<'k> {
    fn parse(key: &'k str) -> Self {
        // `#` and exactly 64 hex digits at the end: no `#` among them, so
        // this `#` is the last one.
        if let Some(split) = key.len().checked_sub(65) {
            if key.as_bytes()[split] == b'#' {
                if let Some(digest) = parse_hex(&key.as_bytes()[split + 1..]) {
                    return KeyRef::Digest {
                        ns: &key[..split],
                        digest,
                    };
                }
            }
        }
        KeyRef::Other(key)
    }
}

/// 64 lowercase hex digits (the only spelling `push_hex` writes back).
/// Eight digits at a time, in the bytes of a `u64` (a replay parses its key).
fn parse_hex(hex: &[u8]) -> Option<[u8; 32]> {
    const LOW7: u64 = 0x0101_0101_0101_0101;
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    let mut valid = u64::MAX;
    for (out, digits) in digest.chunks_exact_mut(4).zip(hex.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(digits);
        let x = u64::from_le_bytes(word);
        // Each byte below 0x80, so adding at most 0x50 carries into no other.
        let ascii = !x & (LOW7 * 0x80);
        let at_least = |c: u64| (x & (LOW7 * 0x7f)).wrapping_add(LOW7 * (0x80 - c)) & (LOW7 * 0x80);
        let digit = at_least(0x30) & !at_least(0x3a);
        let letter = at_least(0x61) & !at_least(0x67);
        valid &= ascii & (digit | letter) | !(LOW7 * 0x80);
        // '0'..'9' -> 0..9, 'a'..'f' -> 10..15 (letters have bit 6 set).
        let nibbles = (x & (LOW7 * 0x0f)) + ((x >> 6) & LOW7) * 9;
        // Byte 2k becomes (digit 2k << 4) | digit 2k+1.
        let pairs = (nibbles << 4) | (nibbles >> 8);
        let b = pairs.to_le_bytes();
        out.copy_from_slice(&[b[0], b[2], b[4], b[6]]);
    }
    (valid == u64::MAX).then_some(digest)
}

impl Slot {
    fn new(ns: u32, digest: [u8; 32], request: &ClaimRequest<'_>, key: Option<&str>) -> Self {
        let mut slot = Slot {
            token: request.token,
            digest,
            lease_until_ms: request.lease_until_ms,
            expires_at_s: request.expires_at_s,
            extra: None,
            ns,
            flags: 0,
            data_len: 0,
            inline: [0; INLINE],
        };
        if key.is_some() || request.fingerprint.is_some() {
            slot.extra = Some(Box::new(Extra {
                key: key.map(Box::from),
                fingerprint: request.fingerprint.cloned(),
                data: None,
                shared: None,
            }));
        }
        slot
    }

    fn status(&self) -> Status {
        if self.flags & flag::COMPLETED != 0 {
            Status::Completed
        } else {
            Status::InProgress
        }
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_s.saturating_mul(1000) <= now_ms
    }

    fn is_claimable(&self, now_ms: u64) -> bool {
        self.is_expired(now_ms)
            || (self.status() == Status::InProgress && self.lease_until_ms <= now_ms)
    }

    fn held_by(&self, lease: &Lease) -> bool {
        lease.token.is_some_and(|token| token == self.token)
    }

    fn set_data(&mut self, data: Option<&str>) {
        self.flags &= !(flag::INLINE_DATA | flag::EXTRA_DATA);
        if let Some(extra) = self.extra.as_mut() {
            extra.data = None;
            extra.shared = None;
        }
        match data {
            Some(d) if d.len() <= INLINE => {
                self.inline[..d.len()].copy_from_slice(d.as_bytes());
                self.data_len = d.len() as u8;
                self.flags |= flag::INLINE_DATA;
            }
            Some(d) => {
                self.extra.get_or_insert_with(Box::default).data = Some(d.into());
                self.flags |= flag::EXTRA_DATA;
            }
            None => {}
        }
    }

    fn data(&self) -> Option<String> {
        if self.flags & flag::INLINE_DATA != 0 {
            let bytes = &self.inline[..usize::from(self.data_len)];
            // Written from a `&str`, so always UTF-8.
            return std::str::from_utf8(bytes).ok().map(String::from);
        }
        if self.flags & flag::EXTRA_DATA != 0 {
            return self
                .extra
                .as_ref()
                .and_then(|e| e.data.as_deref().map(String::from));
        }
        None
    }

    /// The record a claim hands out: built once for a completed record and
    /// kept (completed records change only by being replaced or removed).
    fn shared_record(&mut self, key: &str) -> Arc<Record> {
        if self.status() != Status::Completed {
            return Arc::new(self.record(key));
        }
        if let Some(shared) = self.extra.as_ref().and_then(|e| e.shared.as_ref()) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(self.record(key));
        self.extra.get_or_insert_with(Box::default).shared = Some(Arc::clone(&shared));
        shared
    }

    /// The record as the `Store` trait hands it out, under its stored `key`.
    fn record(&self, key: &str) -> Record {
        Record {
            key: key.to_owned(),
            status: self.status(),
            expires_at_s: self.expires_at_s,
            lease: Some(Lease::new(self.token, self.lease_until_ms)),
            fingerprint: self.extra.as_ref().and_then(|e| e.fingerprint.clone()),
            data: self.data(),
        }
    }
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
                        index: HashTable::new(),
                        slab: Slab::default(),
                        namespaces: Namespaces::default(),
                        cursor: 0,
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

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shard {
    /// Whether `slot` holds `key` (`ns` already resolved for a digest key).
    fn holds(slot: &Slot, key: &KeyRef<'_>, ns: u32) -> bool {
        match key {
            KeyRef::Digest { digest, .. } => slot.ns == ns && slot.digest == *digest,
            KeyRef::Other(key) => {
                slot.ns == OTHER_KEY
                    && slot.extra.as_ref().and_then(|e| e.key.as_deref()) == Some(*key)
            }
        }
    }

    fn find(&self, key: &KeyRef<'_>, hash: u32, hasher: &RandomState) -> Option<u32> {
        let ns = match key {
            KeyRef::Digest { ns, .. } => self.namespaces.get(ns, hasher)?,
            KeyRef::Other(_) => OTHER_KEY,
        };
        let slab = &self.slab;
        self.index
            .find(spread(hash), |e| Self::holds(slab.get(e.slot), key, ns))
            .map(|e| e.slot)
    }

    /// Removes the record in `slot`, whose key hashed to `hash`.
    fn remove(&mut self, slot: u32, hash: u32) {
        if let Ok(entry) = self.index.find_entry(spread(hash), |e| e.slot == slot) {
            entry.remove();
        }
        self.slab.vacate(slot);
    }

    /// Looks at the next [`SWEEP_STEP`] slots and removes what expired.
    fn sweep(&mut self, now_ms: u64, hasher: &RandomState) {
        let slots = self.slab.len();
        for _ in 0..SWEEP_STEP.min(slots) {
            if self.cursor >= slots {
                self.cursor = 0;
            }
            let i = self.cursor;
            self.cursor += 1;
            let slot = self.slab.get(i);
            if slot.ns == FREE || !slot.is_expired(now_ms) {
                continue;
            }
            let key = match slot.ns {
                OTHER_KEY => KeyRef::Other(
                    slot.extra
                        .as_ref()
                        .and_then(|e| e.key.as_deref())
                        .unwrap_or(""),
                ),
                ns => KeyRef::Digest {
                    ns: self.namespaces.name(ns),
                    digest: slot.digest,
                },
            };
            let hash = hash_key(hasher, &key) as u32;
            self.remove(i, hash);
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
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_96_bytes_and_an_index_entry_8() {
        assert_eq!(std::mem::size_of::<Slot>(), 96);
        assert_eq!(std::mem::size_of::<IndexEntry>(), 8);
    }

    #[test]
    fn hex_parsing_accepts_exactly_the_lowercase_digits() {
        let digits = b"0123456789abcdef";
        for c in 0..=255u8 {
            let mut hex = [b'0'; 64];
            for pos in [0, 7, 8, 63] {
                hex[pos] = c;
                let expected = digits.iter().position(|&d| d == c).map(|v| v as u8);
                let parsed = parse_hex(&hex);
                match expected {
                    Some(v) => {
                        let p = parsed.expect("valid");
                        let byte = p[pos / 2];
                        assert_eq!(if pos % 2 == 0 { byte >> 4 } else { byte & 0xf }, v);
                    }
                    None => assert_eq!(parsed, None, "byte {c:#x} at {pos}"),
                }
                hex[pos] = b'0';
            }
        }
        let mut hex = String::new();
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        crate::key::push_hex(&mut hex, &digest);
        assert_eq!(parse_hex(hex.as_bytes()), Some(digest));
    }

    #[test]
    fn many_namespaces_are_found_by_hash_past_the_scan() {
        let hasher = RandomState::default();
        let mut namespaces = Namespaces::default();
        let names: Vec<String> = (0..50).map(|i| format!("ns::f{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(namespaces.intern(n, &hasher), i as u32);
            assert_eq!(namespaces.intern(n, &hasher), i as u32, "interned once");
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(namespaces.get(n, &hasher), Some(i as u32));
            assert_eq!(namespaces.name(i as u32), n);
        }
        assert_eq!(namespaces.get("ns::missing", &hasher), None);
    }

    #[test]
    fn only_lowercase_64_digit_hex_after_the_last_hash_is_a_digest_key() {
        let hex = "ab".repeat(32);
        let canonical = format!("a#b::f#{hex}");
        assert!(
            matches!(KeyRef::parse(&canonical), KeyRef::Digest { ns: "a#b::f", digest } if digest == [0xab; 32])
        );
        for other in [
            format!("ns#{}", hex.to_uppercase()),
            format!("ns#{}", &hex[..62]),
            format!("ns#{hex}0"),
            "docs::store#00".to_owned(),
            hex.clone(),
        ] {
            assert!(matches!(KeyRef::parse(&other), KeyRef::Other(_)), "{other}");
        }
    }

    #[tokio::test]
    async fn replays_share_one_record_until_the_key_is_taken_over() {
        let store = MemoryStore::new();
        let key = format!("tests::share#{}", "0f".repeat(32));
        let claim = |now_ms: u64, token| ClaimRequest {
            key: &key,
            now_ms,
            token,
            lease_until_ms: now_ms + 1_000,
            expires_at_s: now_ms / 1000 + 10,
            fingerprint: None,
        };
        let existing = |claim: Claim| match claim {
            Claim::Existing(record) => record,
            Claim::Acquired(_) => panic!("the key is held"),
        };
        for (round, data) in [(0u64, "\"first\""), (1, &"x".repeat(100))] {
            let now = round * 60_000;
            let Ok(Claim::Acquired(lease)) = store.claim(claim(now, LeaseToken::new())).await
            else {
                panic!("round {round}: acquired");
            };
            let done = Completion {
                key: &key,
                lease: &lease,
                data: Some(data),
                fingerprint: None,
                expires_at_s: now / 1000 + 10,
            };
            store.complete(done).await.expect("completed");
            let a = existing(
                store
                    .claim(claim(now, LeaseToken::new()))
                    .await
                    .expect("claim"),
            );
            let b = existing(
                store
                    .claim(claim(now, LeaseToken::new()))
                    .await
                    .expect("claim"),
            );
            assert!(Arc::ptr_eq(&a, &b), "one record for every replay");
            assert_eq!(
                (a.key.as_str(), a.data.as_deref()),
                (key.as_str(), Some(data))
            );
            assert_eq!(a.lease, Some(lease));
        }
        assert_eq!(store.len(), 1);
    }
}
