//! Counters through the `metrics` facade (feature `metrics`): calls by
//! outcome, store errors and complete failures.

use std::sync::atomic::{AtomicBool, Ordering};

use idem_core::testing::{Faults, Faulty, Intercept, Intercepted};
use idem_core::{Error, Idempotent, MemoryStore, Store};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

fn counters(snapshotter: &metrics_util::debugging::Snapshotter) -> Vec<(String, Vec<String>, u64)> {
    let mut out: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter)
        .map(|(key, _, _, value)| {
            let DebugValue::Counter(n) = value else {
                unreachable!("counter")
            };
            let labels = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.key().name().to_owned(), labels, n)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "current_thread")]
async fn calls_store_errors_and_complete_failures_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let store = MemoryStore::new();
    let call = |id: &'static str, fail: bool| {
        Idempotent::new("shop::pay")
            .store(&store)
            .key("id", id)
            .run(move || async move {
                if fail {
                    Err(anyhow::anyhow!("declined"))
                } else {
                    Ok(1u8)
                }
            })
    };
    call("a", false).await.expect("executed");
    call("a", false).await.expect("replayed");
    call("a", false).await.expect("replayed");
    call("b", true).await.expect_err("body error");
    let _ = Idempotent::new("shop::pay")
        .store(&store)
        .key("id", &None::<u8>)
        .run(|| async { Ok::<_, Error>(()) })
        .await
        .expect_err("missing key");

    // A store whose complete always fails after the body ran.
    let flaky = Faulty::new(
        MemoryStore::new(),
        7,
        Faults {
            fail_before: 1.0,
            ..Faults::default()
        },
    );
    let claim_fails = Idempotent::new("shop::pay")
        .store(&flaky)
        .key("id", "c")
        .run(|| async { Ok::<_, Error>(1u8) })
        .await;
    assert!(matches!(claim_fails, Err(Error::Store { .. })));

    let held = AtomicBool::new(false);
    let complete_fails = Intercepted(CompleteFails(MemoryStore::new(), &held));
    Idempotent::new("shop::pay")
        .store(&complete_fails)
        .key("id", "d")
        .run(|| async { Ok::<_, Error>(1u8) })
        .await
        .expect("the caller still gets the result");
    assert!(held.load(Ordering::SeqCst));

    let ns = "namespace=shop::pay".to_owned();
    let outcome = |o: &str| vec![ns.clone(), format!("outcome={o}")];
    assert_eq!(
        counters(&snapshotter),
        vec![
            ("idem_calls_total".to_owned(), outcome("body_error"), 1),
            ("idem_calls_total".to_owned(), outcome("error"), 2),
            ("idem_calls_total".to_owned(), outcome("executed"), 2),
            ("idem_calls_total".to_owned(), outcome("replayed"), 2),
            (
                "idem_complete_failures_total".to_owned(),
                vec![ns.clone()],
                1
            ),
            ("idem_store_errors_total".to_owned(), vec![ns.clone()], 1),
        ]
    );
}

/// MemoryStore whose `complete` always fails; notes that a claim was made.
struct CompleteFails<'a>(MemoryStore, &'a AtomicBool);

impl Intercept for CompleteFails<'_> {
    fn inner(&self) -> &dyn idem_core::Store {
        &self.0
    }
    fn claim<'a>(
        &'a self,
        r: idem_core::store::ClaimRequest<'a>,
    ) -> idem_core::store::StoreFuture<'a, idem_core::store::Claim> {
        self.1.store(true, Ordering::SeqCst);
        self.0.claim(r)
    }
    fn complete<'a>(
        &'a self,
        _: idem_core::store::Completion<'a>,
    ) -> idem_core::store::StoreFuture<'a, ()> {
        Box::pin(async { Err(idem_core::StoreError::LeaseLost) })
    }
}
