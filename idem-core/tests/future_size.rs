//! The size of a call's future: every guarded call allocates or moves it
//! (the HTTP layer boxes it per request), and allocations of up to about
//! 1 KiB come from glibc's per-thread cache, larger ones from its bins.

use idem_core::{Error, Idempotent, MemoryStore};

/// The bound the HTTP layer's per-request allocations are kept under.
const PER_THREAD_CACHE: usize = 1024;

#[test]
fn a_call_future_fits_the_allocators_per_thread_cache() {
    let store = MemoryStore::new();
    let with_outcome = Idempotent::new("tests::size")
        .store(&store)
        .key("id", "k")
        .run_with_outcome(|| async { Ok::<_, Error>(String::new()) });
    let size = std::mem::size_of_val(&with_outcome);
    assert!(
        size <= PER_THREAD_CACHE,
        "run_with_outcome's future: {size} bytes"
    );
    let plain = Idempotent::new("tests::size")
        .store(&store)
        .key("id", "k")
        .run(|| async { Ok::<_, Error>(String::new()) });
    // `run` wraps the same future; an `async` block awaiting it held it twice.
    assert_eq!(std::mem::size_of_val(&plain), size);
}

#[test]
fn a_large_body_future_does_not_size_the_call_future() {
    // The body's future lives in the boxed part of the call (and, disabled or
    // unguarded, in a box of its own), so a large one costs the call nothing.
    let store = MemoryStore::new();
    let small = Idempotent::new("tests::size")
        .store(&store)
        .key("id", "k")
        .run(|| async { Ok::<_, Error>(0u8) });
    let large = Idempotent::new("tests::size")
        .store(&store)
        .key("id", "k")
        .run(|| async {
            let buffer = [0u8; 4096];
            tokio::task::yield_now().await;
            Ok::<_, Error>(buffer[0])
        });
    assert_eq!(std::mem::size_of_val(&large), std::mem::size_of_val(&small));
}
