//! What the store wrappers and the `Store` trait's defaults promise, beyond
//! the conformance suite: `Cached` fills itself from the store, a store that
//! keeps the default `max_data_bytes` has no limit, and wrappers pass the
//! inner store's limit on.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use idem_core::store::{Claim, ClaimRequest, Completion, Lease, Record, StoreFuture};
use idem_core::testing::Counting;
use idem_core::{Cached, Error, Idempotent, MemoryStore, Store};

async fn charge<S: Store>(store: &S, runs: &AtomicUsize) -> Result<String, Error> {
    Idempotent::new("wrappers::charge")
        .store(store)
        .key("id", "o-1")
        .validate(&1250u32)
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(String::from("receipt"))
        })
        .await
}

#[tokio::test]
async fn a_cache_keeps_a_record_another_process_completed_after_one_read() {
    let shared = Arc::new(Counting::new(MemoryStore::new()));
    let runs = AtomicUsize::new(0);
    // Another process (its own cache) ran the body.
    let other = Cached::new(Arc::clone(&shared), 100);
    charge(&other, &runs).await.unwrap();
    let ours = Cached::new(Arc::clone(&shared), 100);
    let before = shared.counts().claim;
    for _ in 0..5 {
        assert_eq!(charge(&ours, &runs).await.unwrap(), "receipt");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        shared.counts().claim - before,
        1,
        "the first duplicate reads the store and fills the cache; the rest are cached"
    );
    assert_eq!(ours.cached_len(), 1);
}

/// A store written as a user would, keeping every default of the trait.
struct Plain(MemoryStore);

impl Store for Plain {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        self.0.claim(request)
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        self.0.complete(completion)
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        self.0.release(key, lease)
    }
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        self.0.extend(key, lease, until_ms)
    }
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        self.0.get(key, now_ms)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.0.delete(key)
    }
}

#[tokio::test]
async fn a_store_with_the_default_max_data_bytes_saves_every_result() {
    let store = Plain(MemoryStore::new());
    assert_eq!(store.max_data_bytes(), None);
    let runs = AtomicUsize::new(0);
    charge(&store, &runs).await.unwrap();
    assert_eq!(
        charge(&store, &runs).await.unwrap(),
        "receipt",
        "replayed, not ReplayUnavailable"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn wrappers_pass_the_inner_store_s_size_limit_on() {
    let limited = || MemoryStore::new().with_max_data_bytes(16);
    assert_eq!(Cached::new(limited(), 10).max_data_bytes(), Some(16));
    assert_eq!(Counting::new(limited()).max_data_bytes(), Some(16));
}

#[tokio::test]
async fn an_oversized_result_behind_a_cache_is_saved_as_not_replayable() {
    let store = Cached::new(MemoryStore::new().with_max_data_bytes(16), 10);
    let big = || {
        Idempotent::new("wrappers::big")
            .store(&store)
            .key("id", "b-1")
            .run(|| async { Ok::<_, Error>("x".repeat(64)) })
    };
    assert_eq!(big().await.unwrap().len(), 64);
    assert!(matches!(big().await, Err(Error::ReplayUnavailable { .. })));
}
