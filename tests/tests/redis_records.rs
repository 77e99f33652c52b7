//! RedisStore on a real Redis node: the hash it writes (fields, server TTL),
//! records it cannot read, scripts the server forgot, lost replies retried,
//! and the errors callers see.
#![allow(clippy::unwrap_used)]

mod redis_support;

use std::collections::HashMap;
use std::error::Error as _;
use std::time::Duration;

use idem_core::store::{Claim, ClaimRequest, Completion, LeaseToken, Status};
use idem_core::{Clock, Store, StoreError, SystemClock};
use idem_redis::RedisStore;
use redis::AsyncCommands;
use redis_support::Server;

fn request(key: &str, now_ms: u64) -> ClaimRequest<'_> {
    ClaimRequest {
        key,
        now_ms,
        token: LeaseToken::new(),
        lease_until_ms: now_ms + 60_000,
        expires_at_s: now_ms / 1000 + 3600,
        fingerprint: None,
    }
}

async fn setup(test: &str) -> Option<(RedisStore, redis::aio::MultiplexedConnection)> {
    let store = redis_support::store(test, Server::Single).await?;
    let raw = redis_support::raw(test).await?;
    Some((store, raw))
}

#[tokio::test]
async fn a_completed_record_is_a_hash_in_powertools_field_names_with_the_server_ttl() {
    let Some((store, mut raw)) = setup("redis_records::layout").await else {
        return;
    };
    let key = "records::layout#00ff";
    let now = SystemClock.now_ms();
    let req = request(key, now);
    let token = req.token;
    let Claim::Acquired(lease) = store.claim(req.clone()).await.unwrap() else {
        panic!("a fresh key is acquired")
    };
    let redis_key = store.redis_key(key).into_owned();
    let fields: HashMap<String, String> = raw.hgetall(&redis_key).await.unwrap();
    assert_eq!(fields["status"], "INPROGRESS");
    assert_eq!(fields["expiration"], req.expires_at_s.to_string());
    assert_eq!(
        fields["in_progress_expiration"],
        req.lease_until_ms.to_string()
    );
    assert_eq!(fields["lease_token"], token.to_string());
    assert!(!fields.contains_key("data"));

    let expires_at_s = now / 1000 + 7200;
    let completion = Completion {
        key,
        lease: &lease,
        data: Some(r#"{"receipt":"r-1"}"#),
        fingerprint: None,
        expires_at_s,
    };
    store.complete(completion).await.unwrap();
    let fields: HashMap<String, String> = raw.hgetall(&redis_key).await.unwrap();
    assert_eq!(fields["status"], "COMPLETED");
    assert_eq!(fields["data"], r#"{"receipt":"r-1"}"#);
    assert_eq!(fields["expiration"], expires_at_s.to_string());
    assert_eq!(
        fields["lease_token"],
        token.to_string(),
        "the completing lease stays"
    );
    let ttl_at: i64 = redis::cmd("EXPIRETIME")
        .arg(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        ttl_at, expires_at_s as i64,
        "the server evicts at expires_at_s"
    );
}

#[tokio::test]
async fn a_key_holding_a_string_is_corrupt_and_never_overwritten() {
    let Some((store, mut raw)) = setup("redis_records::wrong_type").await else {
        return;
    };
    let key = "records::powertools#00";
    let redis_key = store.redis_key(key).into_owned();
    // What Powertools' Redis layer writes: a JSON string.
    let powertools = r#"{"status":"COMPLETED","expiration":1900000000,"data":"{}"}"#;
    let _: () = raw.set_ex(&redis_key, powertools, 60).await.unwrap();
    let now = SystemClock.now_ms();
    for result in [
        store.claim(request(key, now)).await.map(|_| ()),
        store.get(key, now).await.map(|_| ()),
    ] {
        let e = result.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{text}");
        assert!(
            text.contains(&redis_key) && text.contains("redis 127.0.0.1:"),
            "{text}"
        );
        assert!(
            !text.contains("COMPLETED"),
            "no saved data in errors: {text}"
        );
    }
    let still: String = raw.get(&redis_key).await.unwrap();
    assert_eq!(still, powertools);
}

#[tokio::test]
async fn a_hash_with_an_unknown_status_is_corrupt_naming_the_field() {
    let Some((store, mut raw)) = setup("redis_records::bad_status").await else {
        return;
    };
    let key = "records::bad#00";
    let redis_key = store.redis_key(key).into_owned();
    let far = SystemClock.now_ms() / 1000 + 600;
    let _: () = raw
        .hset_multiple(
            &redis_key,
            &[("status", "EXPIRED"), ("expiration", &far.to_string())],
        )
        .await
        .unwrap();
    let e = store
        .claim(request(key, SystemClock.now_ms()))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("field `status` has unknown value `EXPIRED`"),
        "{e}"
    );
}

#[tokio::test]
async fn scripts_the_server_forgot_are_loaded_again() {
    let Some((store, mut raw)) = setup("redis_records::noscript").await else {
        return;
    };
    let now = SystemClock.now_ms();
    let key = "records::noscript#00";
    assert!(matches!(
        store.claim(request(key, now)).await.unwrap(),
        Claim::Acquired(_)
    ));
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    let other = "records::noscript#01";
    assert!(matches!(
        store.claim(request(other, now)).await.unwrap(),
        Claim::Acquired(_)
    ));
}

/// The server holds every command for a while (`CLIENT PAUSE`): the claim's
/// first attempt times out on the client but is applied once the pause
/// ends. The store sends the same call again, which finds its own claim.
#[tokio::test]
async fn a_claim_whose_reply_was_lost_is_retried_and_finds_its_own_claim() {
    let test = "redis_records::lost_reply";
    let Some(urls) = idem_tests::redis::urls(test, Server::Single) else {
        return;
    };
    let store = RedisStore::builder(urls[0].clone())
        .key_prefix(redis_support::unique_prefix(test))
        .response_timeout(Duration::from_millis(100))
        .retry_delay(Duration::from_millis(100))
        .attempts(10)
        .connect()
        .await
        .unwrap();
    let mut raw = redis_support::raw(test).await.unwrap();
    let key = "records::lost#00";
    let now = SystemClock.now_ms();
    let req = request(key, now);
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "300", "ALL"])
        .query_async(&mut raw)
        .await
        .unwrap();
    let claim = store.claim(req.clone()).await.unwrap();
    assert_eq!(
        claim,
        Claim::Acquired(idem_core::store::Lease::new(req.token, req.lease_until_ms))
    );
    let record = store.get(key, now).await.unwrap().unwrap();
    assert_eq!(record.status, Status::InProgress);
    assert_eq!(record.lease.and_then(|l| l.token), Some(req.token));
}

#[tokio::test]
async fn a_failed_step_names_the_operation_and_server_and_its_source_says_why() {
    let test = "redis_records::errors";
    let Some(urls) = idem_tests::redis::urls(test, Server::Single) else {
        return;
    };
    let store = RedisStore::builder(urls[0].clone())
        .key_prefix(redis_support::unique_prefix(test))
        .response_timeout(Duration::from_millis(50))
        .attempts(1)
        .connect()
        .await
        .unwrap();
    let mut raw = redis_support::raw(test).await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "300", "ALL"])
        .query_async(&mut raw)
        .await
        .unwrap();
    let e = store
        .claim(request("records::errors#00", SystemClock.now_ms()))
        .await
        .unwrap_err();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let server = store.server().to_owned();
    assert_eq!(e.to_string(), format!("EVALSHA claim on {server} failed"));
    let source = e.source().expect("a source");
    assert!(!source.to_string().is_empty());
    assert!(source.source().is_none(), "the cause is shown once");
    let chain = idem_tests::chain(&e);
    assert_eq!(chain.matches(&server).count(), 1, "{chain}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_naming_it() {
    // A port nothing listens on: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = RedisStore::builder(format!("redis://:hunter2@127.0.0.1:{port}"))
        .connection_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("connecting to redis 127.0.0.1:{port} failed")
    );
    let chain = idem_tests::chain(&e);
    assert!(!chain.contains("hunter2"), "no password in errors: {chain}");
}
