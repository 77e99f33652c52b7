//! The idem-core store conformance suite against RedisStore on a real Redis:
//! the single node, the TLS node and the 3-master cluster of `scripts/redis.sh`.

mod redis_support;

use std::sync::Arc;

use idem_core::testing::conformance;
use redis_support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_on_a_single_node() {
    let Some(store) = redis_support::store("redis_conformance::single", Server::Single).await
    else {
        return;
    };
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_on_a_cluster() {
    let Some(store) = redis_support::store("redis_conformance::cluster", Server::Cluster).await
    else {
        return;
    };
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_without_a_key_prefix() {
    let Some(store) =
        idem_tests::redis::store("redis_conformance::no_prefix", Server::Single, "").await
    else {
        return;
    };
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_over_tls_with_a_private_ca() {
    let Some(store) = redis_support::store("redis_conformance::tls", Server::Tls).await else {
        return;
    };
    // The certificate is checked: without the private CA, only the system's
    // roots are trusted, and they do not know it.
    let urls = idem_tests::redis::urls("redis_conformance::tls", Server::Tls).expect("set");
    let untrusted = idem_redis::RedisStore::builder(urls[0].clone())
        .attempts(1)
        .connect()
        .await;
    let refused = untrusted.expect_err("a TLS server with an unknown CA must be refused");
    assert!(
        idem_tests::chain(&refused).contains("certificate"),
        "{}",
        idem_tests::chain(&refused)
    );
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}
