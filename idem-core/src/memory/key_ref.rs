//! Stored keys parsed into a namespace and a digest (or kept whole).

#![allow(unused_imports)]

use super::*;

pub(crate) fn hash_key(hasher: &RandomState, key: &KeyRef<'_>) -> u64 {
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
pub(crate) enum KeyRef<'k> {
    Digest { ns: &'k str, digest: [u8; 32] },
    Other(&'k str),
}

impl<'k> KeyRef<'k> {
    pub(crate) fn parse(key: &'k str) -> Self {
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
pub(crate) fn parse_hex(hex: &[u8]) -> Option<[u8; 32]> {
    pub(crate) const LOW7: u64 = 0x0101_0101_0101_0101;
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
