//! Shared by the `redis_*` tests: a store on the single node or the cluster
//! of `scripts/redis.sh`, each test under a key prefix of its own, and a raw
//! client for looking at what the store wrote.
//!
//! The servers come from `IDEM_REDIS_URL` and `IDEM_REDIS_CLUSTER_URLS`
//! (`eval "$(scripts/redis.sh start)"` sets them). Without them a test fails
//! under `CI`, and elsewhere prints a notice and returns early.

#![allow(dead_code, unreachable_pub)] // each test file uses a part of it

use idem_redis::RedisStore;
pub use idem_tests::redis::Server;

/// A key prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    format!("idem-test:{test}:{}:", idem_core::store::LeaseToken::new())
}

/// A store on `server` under a fresh prefix, or `None` outside CI when the
/// server is not there (under CI the test fails instead).
pub async fn store(test: &str, server: Server) -> Option<RedisStore> {
    idem_tests::redis::store(test, server, &unique_prefix(test)).await
}

/// A raw client connection to the single node, for inspecting and planting
/// records.
pub async fn raw(test: &str) -> Option<redis::aio::MultiplexedConnection> {
    let urls = idem_tests::redis::urls(test, Server::Single)?;
    let client = redis::Client::open(urls[0].as_str()).expect("a valid URL");
    Some(
        client
            .get_multiplexed_async_connection()
            .await
            .expect("the single node answers"),
    )
}
