//! One byte vector per thread, lent out and handed back, so buffers that
//! every call fills (a long key's spill, a result's JSON) keep their
//! capacity from call to call instead of growing from empty each time.

use std::cell::Cell;

/// A vector larger than this is freed rather than kept (the key encoder
/// holds its scratch buffers to the same limit).
pub(crate) const MAX_KEPT: usize = 64 * 1024;

thread_local! {
    static POOL: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The thread's vector, cleared (or a new one if it is lent out already).
pub(crate) fn take() -> Vec<u8> {
    let mut bytes = POOL.try_with(Cell::take).unwrap_or_default();
    bytes.clear();
    bytes
}

/// Hands `bytes` back to the thread it is on now (a task may have moved),
/// unless it grew too large to keep.
pub(crate) fn give(bytes: Vec<u8>) {
    if bytes.capacity() <= MAX_KEPT {
        let _ = POOL.try_with(|pool| pool.set(bytes));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_vector_handed_back_is_lent_again_cleared_with_its_capacity() {
        let mut bytes = super::take();
        bytes.extend_from_slice(&[1; 600]);
        let capacity = bytes.capacity();
        super::give(bytes);
        let again = super::take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
        // While it is out, a second taker gets a vector of its own.
        assert_eq!(super::take().capacity(), 0);
        super::give(again);
    }

    #[test]
    fn a_vector_too_large_is_not_kept() {
        super::give(vec![0; super::MAX_KEPT + 1]);
        assert!(super::take().capacity() <= super::MAX_KEPT);
    }
}
