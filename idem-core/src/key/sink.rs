//! The buffer a key's encoding is hashed from.

/// Keyed blake3 behind a buffer. Short keys (an id, a composite of a few
/// fields) stay in the inline buffer and are hashed in one call of
/// `keyed_hash`, with no `Hasher` (two kilobytes) to set up or move. Longer
/// input spills into a byte vector that is hashed in one call at the end, so
/// blake3 sees its input whole and takes its SIMD paths for every full
/// kilobyte. The vector is borrowed from a per-thread pool and handed back
/// by [`Sink::finish`], so hashing allocates nothing in steady state. The
/// digest is that of the concatenated writes, however they were split.
#[derive(Clone)]
pub(super) struct Sink {
    key: &'static [u8; 32],
    buf: [u8; SINK_BUF],
    len: usize,
    spill: Vec<u8>,
}

const SINK_BUF: usize = 128;

impl Sink {
    pub(super) fn new(key: &'static [u8; 32]) -> Self {
        Sink {
            key,
            buf: [0; SINK_BUF],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn write(&mut self, bytes: &[u8]) {
        if self.spill.is_empty() {
            if let Some(free) = self.buf.get_mut(self.len..self.len + bytes.len()) {
                free.copy_from_slice(bytes);
                self.len += bytes.len();
                return;
            }
        }
        self.spill(bytes);
    }

    /// Writes all of `bytes`, taking the vector itself rather than copying
    /// it when the sink is still empty and the bytes would spill anyway (a
    /// large key part). `bytes` is left empty, possibly without capacity.
    pub(super) fn write_vec(&mut self, bytes: &mut Vec<u8>) {
        if self.len == 0 && self.spill.is_empty() && bytes.len() > SINK_BUF {
            std::mem::swap(&mut self.spill, bytes);
        } else {
            self.write(bytes);
        }
        bytes.clear();
    }

    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        if self.spill.is_empty() {
            let mut pooled = crate::pool::take();
            pooled.reserve(self.len + bytes.len());
            pooled.extend_from_slice(&self.buf[..self.len]);
            self.len = 0;
            self.spill = pooled;
        }
        self.spill.extend_from_slice(bytes);
    }

    // By reference, so the buffer is not copied out of the builder first.
    // Leaves the sink empty.
    pub(super) fn finish(&mut self) -> blake3::Hash {
        if self.spill.is_empty() {
            let digest = blake3::keyed_hash(self.key, &self.buf[..self.len]);
            self.len = 0;
            return digest;
        }
        let digest = blake3::keyed_hash(self.key, &self.spill);
        crate::pool::give(std::mem::take(&mut self.spill));
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::Sink;

    static KEY: [u8; 32] = [7; 32];

    #[test]
    fn sink_digest_is_independent_of_write_sizes_and_spilling() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for total in [0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000, 1024, 5000] {
            let expected = blake3::keyed_hash(&KEY, &data[..total]);
            for step in [1, 3, 64, 127, 128, 129, 500, 4096] {
                let mut sink = Sink::new(&KEY);
                for chunk in data[..total].chunks(step) {
                    sink.write(chunk);
                }
                assert_eq!(sink.finish(), expected, "total {total}, step {step}");
                // A finished sink starts over.
                sink.write(&data[..total]);
                assert_eq!(sink.finish(), expected, "reused, total {total}");
            }
        }
    }

    #[test]
    fn a_vector_taken_whole_never_drops_what_came_before_it() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 251) as u8).collect();
        for head in [0, 1, 100, 128, 129, 1000] {
            for tail in [0, 1, 128, 129, 2000] {
                let expected = blake3::keyed_hash(&KEY, &data[..head + tail]);
                let mut sink = Sink::new(&KEY);
                sink.write(&data[..head]);
                sink.write_vec(&mut data[head..head + tail].to_vec());
                assert_eq!(
                    sink.finish(),
                    expected,
                    "write {head}, then write_vec {tail}"
                );
                let mut sink = Sink::new(&KEY);
                sink.write_vec(&mut data[..head].to_vec());
                sink.write_vec(&mut data[head..head + tail].to_vec());
                assert_eq!(sink.finish(), expected, "write_vec {head}, then {tail}");
            }
        }
    }
}
