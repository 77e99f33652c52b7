//! The buffer one key part is encoded into, and the canonical order of map
//! entries, applied in place when a map closes.

use std::cell::RefCell;
use std::cmp::Ordering;

use super::encoder::tag;

/// Where one part is encoded before it goes to the [`Sink`]: the bytes, the
/// entry ranges of the maps being written (a stack), and room to reorder a
/// map's entries. Per thread and reused, so encoding allocates nothing once
/// the buffers have grown to the largest part seen (up to
/// [`crate::pool::MAX_KEPT`], the limit of the pool its `out` vector comes
/// from and goes back to).
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) out: Vec<u8>,
    pub(super) tmp: Vec<u8>,
    pub(super) ranges: Vec<Entry>,
}

/// One entry of a map being written: where its encoding lies in the output,
/// and a sort key that decides most comparisons without reading it: the first
/// 8 bytes of a string key, big-endian and zero-padded, or `u64::MAX` for
/// other keys (UTF-8 never holds a `0xff` byte). Ordering by `(prefix,
/// entry_order)` is ordering by [`entry_order`].
#[derive(Clone, Copy)]
pub(super) struct Entry {
    prefix: u64,
    start: usize,
    end: usize,
}

/// The sort prefix of an entry whose key is the string `key`.
#[inline]
pub(super) fn str_prefix(key: &[u8]) -> u64 {
    // A fixed-size load when there are 8 bytes, not a `memcpy` call.
    if let Some(first) = key.first_chunk::<8>() {
        return u64::from_be_bytes(*first);
    }
    let mut bytes = [0u8; 8];
    for (b, k) in bytes.iter_mut().zip(key) {
        *b = *k;
    }
    u64::from_be_bytes(bytes)
}

impl Entry {
    fn order(&self, other: &Entry, out: &[u8]) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| entry_order(&out[self.start..self.end], &out[other.start..other.end]))
    }
}

thread_local! {
    pub(super) static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { out: Vec::new(), tmp: Vec::new(), ranges: Vec::new() })
    };
}

impl Scratch {
    #[inline]
    pub(super) fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    #[inline]
    pub(super) fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    pub(super) fn int(&mut self, v: i128) {
        self.byte(tag::INT);
        let mut n = ((v << 1) ^ (v >> 127)) as u128; // zigzag
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    #[inline]
    pub(super) fn str(&mut self, v: &str) {
        self.prefixed(tag::STR, v.as_bytes());
    }

    #[inline]
    pub(super) fn prefixed(&mut self, tag: u8, bytes: &[u8]) {
        match u8::try_from(bytes.len()) {
            // Tag and one-byte length in one write, the usual case.
            Ok(len) if len < 0x80 => self.out.extend_from_slice(&[tag, len]),
            _ => {
                self.byte(tag);
                self.varint(bytes.len() as u64);
            }
        }
        self.out.extend_from_slice(bytes);
    }

    /// Opens a map: its tag now, its entries from here on.
    pub(super) fn open_map(&mut self) -> MapState {
        self.byte(tag::MAP);
        MapState {
            base: self.ranges.len(),
            start: self.out.len(),
            entry: self.out.len(),
            count: 0,
        }
    }

    /// Records the entry just written, whose key was any value.
    pub(super) fn close_entry(&mut self, map: &mut MapState) {
        let prefix = str_key(&self.out[map.entry..]).map_or(u64::MAX, str_prefix);
        self.close_str_entry(map, prefix);
    }

    /// Records the entry just written, given its sort prefix.
    #[inline]
    pub(super) fn close_str_entry(&mut self, map: &mut MapState, prefix: u64) {
        self.ranges.push(Entry {
            prefix,
            start: map.entry,
            end: self.out.len(),
        });
        map.count += 1;
    }

    /// Puts the map's entries in canonical order, in place, and closes it.
    /// Entries already in order (a `BTreeMap`, a struct whose fields are
    /// declared alphabetically) are left where they are.
    pub(super) fn close_map(&mut self, map: MapState) {
        let Scratch { out, tmp, ranges } = self;
        let entries = &mut ranges[map.base..];
        // Distinct prefixes decide the order alone (the usual case: field
        // names differ in their first 8 bytes); the full order breaks ties.
        let distinct = |e: &[Entry]| e.windows(2).all(|w| w[0].prefix < w[1].prefix);
        if !distinct(entries) {
            entries.sort_unstable_by_key(|e| e.prefix);
            if !distinct(entries) {
                entries.sort_unstable_by(|a, b| a.order(b, out));
            }
            tmp.clear();
            tmp.extend_from_slice(&out[map.start..]);
            let mut at = map.start;
            for e in entries.iter() {
                let len = e.end - e.start;
                out[at..at + len].copy_from_slice(&tmp[e.start - map.start..e.end - map.start]);
                at += len;
            }
        }
        ranges.truncate(map.base);
        self.byte(tag::MAP_END);
        self.varint(map.count);
    }
}

/// A map being written: where its entry ranges start on the stack, where its
/// entries start in the output, where the current entry starts, how many.
pub(super) struct MapState {
    base: usize,
    start: usize,
    pub(super) entry: usize,
    count: u64,
}

/// The canonical order of map entries (see the module docs): a total order
/// on encodings, so the result does not depend on the order of insertion.
pub(super) fn entry_order(a: &[u8], b: &[u8]) -> Ordering {
    match (str_key(a), str_key(b)) {
        (Some(ka), Some(kb)) => ka.cmp(kb).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The key's bytes, if the entry's key is a string.
#[inline]
pub(super) fn str_key(entry: &[u8]) -> Option<&[u8]> {
    match entry {
        // A key shorter than 128 bytes: a one-byte length.
        [tag::STR, len, rest @ ..] if *len < 0x80 => rest.get(..usize::from(*len)),
        [tag::STR, rest @ ..] => long_str_key(rest),
        _ => None,
    }
}

#[cold]
fn long_str_key(rest: &[u8]) -> Option<&[u8]> {
    let mut len = 0usize;
    let mut shift = 0;
    for (i, &b) in rest.iter().enumerate() {
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return rest.get(i + 1..i + 1 + len);
        }
        shift += 7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Vec<u8> {
        let mut s = Scratch::default();
        s.str(key);
        s.byte(tag::UNIT);
        s.out
    }

    #[test]
    fn entries_order_by_key_bytes_then_encoding_and_non_string_keys_last() {
        assert!(entry_order(&entry("b"), &entry("ab")).is_gt());
        assert!(entry_order(&entry("a"), &entry("ab")).is_lt());
        assert!(entry_order(&[tag::INT, 2, tag::UNIT], &entry("a")).is_gt());
        let long = "k".repeat(300); // a two-byte length
        assert_eq!(str_key(&entry(&long)), Some(long.as_bytes()));
    }

    #[test]
    fn prefixes_agree_with_the_full_order() {
        let keys = [
            "",
            "a",
            "a\0",
            "a\0b",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefgi",
            "b",
            "é",
        ];
        for a in keys {
            for b in keys {
                let (ea, eb) = (entry(a), entry(b));
                let (pa, pb) = (str_prefix(a.as_bytes()), str_prefix(b.as_bytes()));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), entry_order(&ea, &eb), "{a:?} {b:?}");
                }
            }
        }
    }
}
