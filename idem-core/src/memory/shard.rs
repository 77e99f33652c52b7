//! A shard: its index, the slab its records live in, its namespaces, and
//! its incremental sweep.

#![allow(unused_imports)]

use super::*;

pub(crate) struct Shard {
    pub(crate) index: HashTable<IndexEntry>,
    pub(crate) slab: Slab,
    pub(crate) namespaces: Namespaces,
    /// The next slot the sweep looks at.
    pub(crate) cursor: u32,
    /// No record here expires before this (Unix seconds): a lower bound,
    /// so that claims skip the sweep while nothing can be due. Sweeping
    /// touched two cold slots per new key, a tenth of a first call's time.
    pub(crate) earliest_s: u64,
    /// The earliest expiry met since the sweep's current pass began: the
    /// next `earliest_s` once the pass has seen every slot.
    pub(crate) pass_min_s: u64,
}

/// The namespaces of a shard's canonical keys, numbered in order of first
/// use. A few are scanned; past [`NS_SCAN`], they are also indexed by hash,
/// so a process with many namespaces does not scan them on every call.
#[derive(Default)]
pub(crate) struct Namespaces {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) by_hash: HashTable<u32>,
}

pub(crate) const NS_SCAN: usize = 8;

impl Namespaces {
    pub(crate) fn get(&self, ns: &str, hasher: &RandomState) -> Option<u32> {
        if self.names.len() <= NS_SCAN {
            return self.names.iter().position(|n| &**n == ns).map(|i| i as u32);
        }
        let names = &self.names;
        self.by_hash
            .find(hasher.hash_one(ns), |&i| &*names[i as usize] == ns)
            .copied()
    }

    pub(crate) fn intern(&mut self, ns: &str, hasher: &RandomState) -> u32 {
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

    pub(crate) fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// Slots in chunks that double in size (8, 16, 32, … slots), and a free
/// list of vacated slots. Chunks, so the slab grows without copying (a
/// reallocating `Vec` would copy a shard's records at every doubling);
/// doubling, so a shard of a few records takes a few hundred bytes, not a
/// fixed chunk's worth (256 slots were 24 KiB per shard in use, and a fresh
/// page for a first claim).
#[derive(Default)]
pub(crate) struct Slab {
    pub(crate) chunks: Vec<Vec<Slot>>,
    pub(crate) free: Vec<u32>,
}

/// Slots in the first chunk, a power of two; chunk `c` holds `FIRST << c`.
pub(crate) const FIRST: usize = 8;

/// The chunk of slot `i`, and the slot's place in it. Chunk `c` starts at
/// slot `FIRST * (2^c - 1)`, so `i + FIRST` has bit `c + log2(FIRST)` as its
/// highest. Computed in `u64`, where the last slot numbers cannot overflow
/// (a 32-bit `usize` would).
pub(crate) fn locate(i: u32) -> (usize, usize) {
    let shifted = u64::from(i) + FIRST as u64;
    let high = u64::BITS - 1 - shifted.leading_zeros();
    let chunk = high - FIRST.trailing_zeros();
    (chunk as usize, (shifted - (1 << high)) as usize)
}

impl Slab {
    pub(crate) fn get(&self, i: u32) -> &Slot {
        let (chunk, at) = locate(i);
        &self.chunks[chunk][at]
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> &mut Slot {
        let (chunk, at) = locate(i);
        &mut self.chunks[chunk][at]
    }

    /// Puts `new` in a free slot (or a new one) and returns its number.
    pub(crate) fn alloc(&mut self, new: Slot) -> u32 {
        if let Some(i) = self.free.pop() {
            *self.get_mut(i) = new;
            return i;
        }
        let i = self.len();
        let last_size = FIRST << self.chunks.len().saturating_sub(1);
        if self.chunks.last().is_none_or(|c| c.len() == last_size) {
            self.chunks
                .push(Vec::with_capacity(FIRST << self.chunks.len()));
        }
        self.chunks.last_mut().expect("a chunk with room").push(new);
        i
    }

    /// Slots in use or vacant (not the chunks' unused capacity).
    pub(crate) fn len(&self) -> u32 {
        let before_last = FIRST * ((1 << self.chunks.len().saturating_sub(1)) - 1);
        (before_last + self.chunks.last().map_or(0, Vec::len)) as u32
    }

    /// Vacates slot `i`.
    pub(crate) fn vacate(&mut self, i: u32) {
        let slot = self.get_mut(i);
        slot.ns = FREE;
        slot.extra = None;
        self.free.push(i);
    }
}

/// A slot number and the low half of the key's hash (the shard was chosen
/// by the high half), so the index rehashes without reading records.
#[derive(Clone, Copy)]
pub(crate) struct IndexEntry {
    pub(crate) slot: u32,
    pub(crate) hash: u32,
}

/// The table hash of an index entry: hashbrown takes the slot from the low
/// bits and its tag from the top 7, so both come from the stored half.
pub(crate) fn spread(hash: u32) -> u64 {
    u64::from(hash) | (u64::from(hash) << 32)
}

/// One record, compactly (96 bytes). `ns` is the key's namespace number in
/// the shard, [`OTHER_KEY`] for a key kept whole in `extra`, or [`FREE`].
pub(crate) fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shard {
    /// Whether `slot` holds `key` (`ns` already resolved for a digest key).
    pub(crate) fn holds(slot: &Slot, key: &KeyRef<'_>, ns: u32) -> bool {
        match key {
            KeyRef::Digest { digest, .. } => slot.ns == ns && slot.digest == *digest,
            KeyRef::Other(key) => {
                slot.ns == OTHER_KEY
                    && slot.extra.as_ref().and_then(|e| e.key.as_deref()) == Some(*key)
            }
        }
    }

    pub(crate) fn find(&self, key: &KeyRef<'_>, hash: u32, hasher: &RandomState) -> Option<u32> {
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
    pub(crate) fn remove(&mut self, slot: u32, hash: u32) {
        if let Ok(entry) = self.index.find_entry(spread(hash), |e| e.slot == slot) {
            entry.remove();
        }
        self.slab.vacate(slot);
    }

    /// Records that a slot now expires at `expires_at_s`: every write of an
    /// expiry goes through here, so `earliest_s` stays a lower bound.
    pub(crate) fn note_expiry(&mut self, expires_at_s: u64) {
        self.earliest_s = self.earliest_s.min(expires_at_s);
        self.pass_min_s = self.pass_min_s.min(expires_at_s);
    }

    /// Looks at the next [`SWEEP_STEP`] slots and removes what expired.
    /// Frees a few slots whose records expired over [`SWEEP_GRACE_MS`] ago;
    /// does nothing while no record can have.
    pub(crate) fn sweep(&mut self, now_ms: u64, hasher: &RandomState) {
        // Records leave memory a while after they expire, so a clock
        // stepped back by less than that still finds (and replays) them.
        let due = now_ms.saturating_sub(SWEEP_GRACE_MS);
        if self.earliest_s.saturating_mul(1000) > due {
            return;
        }
        let slots = self.slab.len();
        for _ in 0..SWEEP_STEP.min(slots) {
            if self.cursor >= slots {
                // A whole pass seen: what it met (and what was written
                // meanwhile) bounds every record left.
                self.cursor = 0;
                self.earliest_s = self.pass_min_s;
                self.pass_min_s = u64::MAX;
            }
            let i = self.cursor;
            self.cursor += 1;
            let slot = self.slab.get(i);
            if slot.ns == FREE {
                continue;
            }
            if !slot.is_expired(due) {
                self.pass_min_s = self.pass_min_s.min(slot.expires_at_s);
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
