//! Errors (Display and Debug), log lines and span fields never contain
//! payloads or saved results: a marker string put in both must not appear
//! anywhere, whichever way the call ends.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idem_core::store::{Claim, ClaimRequest, Completion, LeaseToken};
use idem_core::testing::{Faults, Faulty};
use idem_core::{Clock, Error, Idempotent, InProgress, Key, MemoryStore, Store, SystemClock};

const MARKER: &str = "alice@example.com-4242";

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(serde::Serialize)]
struct Order {
    id: String,
    email: String,
}

#[tokio::test(flavor = "current_thread")]
async fn no_error_log_or_span_carries_a_payload_or_a_result() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let order = Order {
        id: format!("order-{MARKER}"),
        email: MARKER.into(),
    };
    let result = format!("receipt for {MARKER}");
    let mut errors: Vec<Error> = Vec::new();
    let store = MemoryStore::new().with_max_data_bytes(4096);
    let call = |store: &'static dyn Store, in_progress| {
        Idempotent::new("privacy::charge")
            .store(store)
            .key("order.id", &order.id)
            .validate(&order)
            .in_progress(in_progress)
    };
    let store: &'static MemoryStore = Box::leak(Box::new(store));

    // Executed, replayed.
    for _ in 0..2 {
        let r = call(store, InProgress::Fail)
            .run(|| async { Ok::<_, Error>(result.clone()) })
            .await;
        assert_eq!(r.unwrap(), result);
    }
    // Payload mismatch.
    let other = Order {
        id: order.id.clone(),
        email: format!("bob-{MARKER}"),
    };
    errors.push(
        Idempotent::new("privacy::charge")
            .store(store)
            .key("order.id", &other.id)
            .validate(&other)
            .run(|| async { Ok::<_, Error>(String::new()) })
            .await
            .unwrap_err(),
    );
    // Missing key: the part's name, never a value.
    let missing: Option<String> = None;
    errors.push(
        Idempotent::new("privacy::charge")
            .store(store)
            .key("order.email", &missing)
            .run(|| async { Ok::<_, Error>(String::new()) })
            .await
            .unwrap_err(),
    );
    // In progress.
    let slow_key = format!("slow-{MARKER}");
    let slow = Idempotent::new("privacy::slow")
        .store(store)
        .key("id", &slow_key)
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, Error>(result.clone())
        });
    let duplicate = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Idempotent::new("privacy::slow")
            .store(store)
            .key("id", &slow_key)
            .run(|| async { Ok::<_, Error>(String::new()) })
            .await
    };
    let (_, duplicate) = tokio::join!(slow, duplicate);
    errors.push(duplicate.unwrap_err());
    // Too large to save, then replay unavailable.
    let big = format!("{MARKER}{}", "x".repeat(8192));
    for _ in 0..2 {
        let r = Idempotent::new("privacy::big")
            .store(store)
            .key("id", MARKER)
            .run(|| async { Ok::<_, Error>(big.clone()) })
            .await;
        if let Err(e) = r {
            errors.push(e);
        }
    }
    // A saved result of another shape: Decode, whose serde message would
    // quote the saved value.
    let key = Key::builder("privacy::decode")
        .part("id", MARKER)
        .finish()
        .unwrap();
    let now = SystemClock.now_ms();
    let Claim::Acquired(lease) = store
        .claim(ClaimRequest {
            key: key.storage_key(),
            now_ms: now,
            token: LeaseToken::new(),
            lease_until_ms: now + 60_000,
            expires_at_s: now / 1000 + 60,
            fingerprint: None,
        })
        .await
        .unwrap()
    else {
        panic!("fresh key")
    };
    let saved = format!("\"{MARKER}\"");
    store
        .complete(Completion {
            key: key.storage_key(),
            lease: &lease,
            data: Some(&saved),
            fingerprint: None,
            expires_at_s: now / 1000 + 60,
        })
        .await
        .unwrap();
    errors.push(
        Idempotent::new("privacy::decode")
            .store(store)
            .key("id", MARKER)
            .run(|| async { Ok::<_, Error>(0u64) })
            .await
            .unwrap_err(),
    );
    // Store failures: before the claim, and on saving the result.
    let faulty = Faulty::new(
        MemoryStore::new(),
        7,
        Faults {
            fail_before: 1.0,
            ..Faults::default()
        },
    );
    errors.push(
        Idempotent::new("privacy::faulty")
            .store(&faulty)
            .key("id", MARKER)
            .run(|| async { Ok::<_, Error>(result.clone()) })
            .await
            .unwrap_err(),
    );
    // A body error: the caller's own error is the caller's business; idem
    // logs nothing of it.
    let _ = Idempotent::new("privacy::fails")
        .store(store)
        .key("id", MARKER)
        .run(|| async { Err::<String, _>(anyhow::anyhow!("declined {MARKER}")) })
        .await;

    assert!(errors.len() >= 6, "{errors:?}");
    for e in &errors {
        let shown = format!("{e} | {e:?} | {:#}", anyhow::Error::msg(e.to_string()));
        assert!(
            !shown.contains(MARKER),
            "an error quotes a payload or result: {shown}"
        );
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            assert!(
                !cause.to_string().contains(MARKER),
                "a cause quotes data: {cause}"
            );
            source = cause.source();
        }
    }
    let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("privacy::charge"),
        "the capture works: {logged}"
    );
    assert!(
        logged.contains("too large"),
        "warnings were captured: {logged}"
    );
    assert!(
        !logged.contains(MARKER),
        "a log line or span quotes data:\n{logged}"
    );
}
