//! Items on the table: records written by Powertools for AWS Lambda are read
//! correctly, ours keep Powertools' types, and corrupt items are errors that
//! name the key — never a panic, never a silent re-run.

mod dynamo_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use dynamo_support::Local;
use idem_core::store::{Claim, ClaimRequest, Completion, Lease, LeaseToken, Status};
use idem_core::{Clock, Error, Fingerprint, Idempotent, Key, Store, StoreError, SystemClock};

type Item = HashMap<String, AttributeValue>;
/// A namespace, the attributes of its corrupt item, and the expected reason.
type CorruptCase = (
    &'static str,
    Vec<(&'static str, AttributeValue)>,
    &'static str,
);

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn put(db: &Local, item: Item) {
    db.client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("raw PutItem");
}

async fn raw_get(db: &Local, key: Item) -> Item {
    db.client
        .get_item()
        .table_name(&db.table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("raw GetItem")
        .item
        .expect("item exists")
}

fn request(key: &str, now: u64) -> ClaimRequest<'_> {
    ClaimRequest {
        key,
        now_ms: now,
        token: LeaseToken::new(),
        lease_until_ms: now + 60_000,
        expires_at_s: now / 1000 + 3600,
        fingerprint: None,
    }
}

/// A Powertools idempotency key: `<function>.<handler>#<md5 of the payload>`.
const PT_KEY: &str = "orders-fn.app.handler#5d41402abc4b2a76b9719d911017c592";
const PT_HASH: &str = "7d793037a0760186574b0282f2f435e7";

#[tokio::test]
async fn reads_powertools_records() {
    let Some(db) = dynamo_support::local("powertools-read") else {
        return;
    };
    let store = db.store().await;
    let now = SystemClock.now_ms();
    let now_s = now / 1000;

    // Completed, as Powertools saves it.
    let data = r#"{"statusCode": 200, "body": "{\"ok\": true}"}"#;
    put(
        &db,
        HashMap::from([
            ("id".into(), s(PT_KEY)),
            ("expiration".into(), n(now_s + 3600)),
            ("status".into(), s("COMPLETED")),
            ("data".into(), s(data)),
            ("validation".into(), s(PT_HASH)),
        ]),
    )
    .await;
    // Read as seconds: as milliseconds it would be in 1970, and so expired.
    let record = store
        .get(PT_KEY, now)
        .await
        .expect("get")
        .expect("not expired");
    assert_eq!(record.key, PT_KEY);
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.expires_at_s, now_s + 3600);
    assert_eq!(record.data.as_deref(), Some(data));
    assert_eq!(record.fingerprint, Some(Fingerprint::from_stored(PT_HASH)));
    assert_eq!(record.lease, None);
    match store.claim(request(PT_KEY, now)).await {
        Ok(Claim::Existing(r)) => assert_eq!(*r, record),
        other => panic!("a live completed record must not be claimed: {other:?}"),
    }

    // In progress with a live lease: `in_progress_expiration` is milliseconds.
    let running = "orders-fn.app.handler#0cc175b9c0f1b6a831c399e269772661";
    let until = now + 120_000;
    put(
        &db,
        HashMap::from([
            ("id".into(), s(running)),
            ("expiration".into(), n(now_s + 3600)),
            ("in_progress_expiration".into(), n(until)),
            ("status".into(), s("INPROGRESS")),
        ]),
    )
    .await;
    match store.claim(request(running, now)).await {
        Ok(Claim::Existing(r)) => {
            assert_eq!(r.status, Status::InProgress);
            let lease = r.lease.clone().expect("a lease");
            assert_eq!(lease.until_ms, until);
            assert_eq!(lease.token, None, "Powertools writes no token");
        }
        other => panic!("a live in-progress record must not be claimed: {other:?}"),
    }
    // Without a token of ours we can never complete or release their claim.
    let empty = Lease {
        token: None,
        until_ms: until,
    };
    let completion = Completion {
        key: running,
        lease: &empty,
        data: Some("1"),
        fingerprint: None,
        expires_at_s: now_s + 3600,
    };
    assert!(matches!(
        store.complete(completion).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.release(running, &empty).await,
        Err(StoreError::LeaseLost)
    ));

    // In progress, lease lapsed a second ago (as seconds it would be far in
    // the future): the key may be taken over.
    let crashed = "orders-fn.app.handler#92eb5ffee6ae2fec3ad71c777531578f";
    put(
        &db,
        HashMap::from([
            ("id".into(), s(crashed)),
            ("expiration".into(), n(now_s + 3600)),
            ("in_progress_expiration".into(), n(now - 1000)),
            ("status".into(), s("INPROGRESS")),
        ]),
    )
    .await;
    assert!(matches!(
        store.claim(request(crashed, now)).await,
        Ok(Claim::Acquired(_))
    ));

    // Completed but expired (TTL not swept yet): absent.
    let expired = "orders-fn.app.handler#4a8a08f09d37b73795649038408b5f33";
    put(
        &db,
        HashMap::from([
            ("id".into(), s(expired)),
            ("expiration".into(), n(now_s - 10)),
            ("status".into(), s("COMPLETED")),
            ("data".into(), s("\"old\"")),
        ]),
    )
    .await;
    assert_eq!(store.get(expired, now).await.expect("get"), None);
    assert!(matches!(
        store.claim(request(expired, now)).await,
        Ok(Claim::Acquired(_))
    ));
}

#[tokio::test]
async fn reads_powertools_sort_key_records() {
    let Some(db) = dynamo_support::local("powertools-sk") else {
        return;
    };
    let store = db
        .store_with(|b| {
            b.sort_key_attr("sk")
                .static_pk_value("idempotency#orders-fn")
        })
        .await;
    let now = SystemClock.now_ms();
    put(
        &db,
        HashMap::from([
            ("id".into(), s("idempotency#orders-fn")),
            ("sk".into(), s(PT_KEY)),
            ("expiration".into(), n(now / 1000 + 60)),
            ("status".into(), s("COMPLETED")),
            ("data".into(), s("[1,2,3]")),
        ]),
    )
    .await;
    let record = store.get(PT_KEY, now).await.expect("get").expect("record");
    assert_eq!(record.key, PT_KEY);
    assert_eq!(record.data.as_deref(), Some("[1,2,3]"));

    // Ours land under the same static partition.
    let lease = match store.claim(request("ours#01", now)).await {
        Ok(Claim::Acquired(lease)) => lease,
        other => panic!("{other:?}"),
    };
    let item = raw_get(
        &db,
        HashMap::from([
            ("id".into(), s("idempotency#orders-fn")),
            ("sk".into(), s("ours#01")),
        ]),
    )
    .await;
    assert_eq!(
        item.get("lease_token"),
        Some(&s(&lease.token.expect("ours").to_string()))
    );
}

#[tokio::test]
async fn own_writes_keep_powertools_types() {
    let Some(db) = dynamo_support::local("powertools-write") else {
        return;
    };
    let store = db.store().await;
    let now = SystemClock.now_ms();
    let key = "ours::fn#abcdef";
    let fp = Fingerprint::from_stored("ab".repeat(32));
    let mut req = request(key, now);
    req.fingerprint = Some(&fp);
    let lease = match store.claim(req).await {
        Ok(Claim::Acquired(lease)) => lease,
        other => panic!("{other:?}"),
    };
    let id = HashMap::from([("id".to_owned(), s(key))]);
    let item = raw_get(&db, id.clone()).await;
    assert_eq!(item.get("id"), Some(&s(key)));
    assert_eq!(item.get("status"), Some(&s("INPROGRESS")));
    assert_eq!(
        item.get("expiration"),
        Some(&n(now / 1000 + 3600)),
        "seconds, N"
    );
    assert_eq!(
        item.get("in_progress_expiration"),
        Some(&n(now + 60_000)),
        "milliseconds, N"
    );
    assert_eq!(item.get("validation"), Some(&s(fp.as_str())));
    assert_eq!(
        item.get("lease_token"),
        Some(&s(&lease.token.expect("ours").to_string()))
    );
    assert_eq!(item.get("data"), None);
    assert_eq!(item.len(), 6, "{item:?}");

    let data = r#"{"receipt":"r-1"}"#;
    store
        .complete(Completion {
            key,
            lease: &lease,
            data: Some(data),
            fingerprint: Some(&fp),
            expires_at_s: now / 1000 + 7200,
        })
        .await
        .expect("complete");
    let item = raw_get(&db, id).await;
    let expected: HashMap<String, AttributeValue> = HashMap::from([
        ("id".into(), s(key)),
        ("status".into(), s("COMPLETED")),
        ("expiration".into(), n(now / 1000 + 7200)),
        ("data".into(), s(data)),
        ("validation".into(), s(fp.as_str())),
        // The lease stays, so a retried complete finds its own token.
        ("in_progress_expiration".into(), n(now + 60_000)),
        (
            "lease_token".into(),
            s(&lease.token.expect("ours").to_string()),
        ),
    ]);
    assert_eq!(
        item, expected,
        "a completed item is what Powertools writes, plus our lease token"
    );
}

/// The storage key the engine uses for `namespace` and one part.
fn engine_key(namespace: &'static str, id: &str) -> Key {
    Key::builder(namespace)
        .part("id", id)
        .finish()
        .expect("key")
}

async fn run_once(
    store: &impl Store,
    namespace: &'static str,
    runs: &AtomicUsize,
) -> Result<u32, Error> {
    Idempotent::new(namespace)
        .store(store)
        .key("id", "evt-1")
        .run(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(7)
        })
        .await
}

#[tokio::test]
async fn corrupt_records_are_errors_naming_the_key() {
    let Some(db) = dynamo_support::local("corrupt") else {
        return;
    };
    let store = db.store().await;
    let now = SystemClock.now_ms();
    let live = now / 1000 + 3600;
    let cases: [CorruptCase; 5] = [
        (
            "corrupt::unknown-status",
            vec![("status", s("EXPIRED")), ("expiration", n(live))],
            "attribute `status` has unknown value `EXPIRED`",
        ),
        (
            "corrupt::missing-status",
            vec![("expiration", n(live)), ("data", s("7"))],
            "attribute `status` is missing",
        ),
        (
            "corrupt::string-expiration",
            vec![
                ("status", s("COMPLETED")),
                ("expiration", s("soon")),
                ("data", s("7")),
            ],
            "attribute `expiration` should be a number (N), found string (S)",
        ),
        (
            "corrupt::numeric-data",
            vec![
                ("status", s("COMPLETED")),
                ("expiration", n(live)),
                ("data", n(7)),
            ],
            "attribute `data` should be a string (S), found number (N)",
        ),
        (
            "corrupt::in-progress-string-lease",
            vec![
                ("status", s("INPROGRESS")),
                ("expiration", n(live)),
                ("in_progress_expiration", s("1700000000000")),
            ],
            "attribute `in_progress_expiration` should be a number (N), found string (S)",
        ),
    ];
    for (namespace, attrs, reason) in cases {
        let key = engine_key(namespace, "evt-1");
        let mut item: Item = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        item.insert("id".into(), s(key.storage_key()));
        put(&db, item.clone()).await;

        let runs = AtomicUsize::new(0);
        match run_once(&store, namespace, &runs).await {
            Err(Error::Store {
                source: StoreError::Corrupt { reason: got },
                ..
            }) => {
                assert!(got.contains(reason), "{namespace}: {got}");
                assert!(got.contains(key.storage_key()), "names the key: {got}");
                assert!(got.contains(&db.table), "names the table: {got}");
            }
            other => panic!("{namespace}: expected a corrupt-record error, got {other:?}"),
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "{namespace}: the body must not run"
        );
        match store.get(key.storage_key(), now).await {
            Err(StoreError::Corrupt { reason: got }) => assert!(got.contains(reason), "{got}"),
            other => panic!("{namespace}: get must report the corrupt record, got {other:?}"),
        }
        let after = raw_get(&db, HashMap::from([("id".into(), s(key.storage_key()))])).await;
        assert_eq!(after, item, "{namespace}: the item is left for an operator");
    }

    // Bad JSON in `data` is the engine's decode error; the body does not run.
    let namespace = "corrupt::bad-json";
    let key = engine_key(namespace, "evt-1");
    put(
        &db,
        HashMap::from([
            ("id".into(), s(key.storage_key())),
            ("status".into(), s("COMPLETED")),
            ("expiration".into(), n(live)),
            ("data".into(), s("{not json")),
        ]),
    )
    .await;
    let runs = AtomicUsize::new(0);
    match run_once(&store, namespace, &runs).await {
        Err(e @ Error::Decode { .. }) => assert!(!e.is_retryable()),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}
