//! `IDEM_DISABLED=1` runs every body directly. Its own test binary, because
//! the switch is read once per process.

use std::sync::atomic::{AtomicUsize, Ordering};

use idem_core::{Error, Idempotent, MemoryStore};

#[tokio::test]
async fn idem_disabled_runs_bodies_directly_and_stores_nothing() {
    std::env::set_var("IDEM_DISABLED", "1");
    let store = MemoryStore::new();
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        Idempotent::new("tests::disabled")
            .store(&store)
            .key("id", "x")
            .run(|| async { Ok::<_, Error>(runs.fetch_add(1, Ordering::SeqCst)) })
            .await
            .expect("runs");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert!(store.is_empty());
}
