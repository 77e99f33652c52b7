//! Lowercase hex for stored keys and fingerprints.

/// Appends `bytes` as lowercase hex. By hand, one table lookup per byte,
/// because `format!` and blake3's `to_hex` go through `fmt` (or a checked
/// `push`) one character at a time: a visible share of a replay.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        // Always ASCII; checking it is cheaper than one `fmt` call.
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).unwrap_or_default());
    }
}

/// The two hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::push_hex;

    #[test]
    fn push_hex_matches_blake3s_hex() {
        let digest = blake3::hash(b"idem");
        let mut ours = String::new();
        push_hex(&mut ours, digest.as_bytes());
        assert_eq!(ours, digest.to_hex().as_str());
    }
}
