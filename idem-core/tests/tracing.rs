//! One span per guarded call, with namespace, short digest and outcome;
//! never payloads or results.

use std::sync::{Arc, Mutex};

use idem_core::store::{Lease, StoreFuture};
use idem_core::testing::{Intercept, Intercepted};
use idem_core::{Error, Idempotent, MemoryStore, Store};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(String, String)>>>);

struct Fields<'a>(&'a Captured);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)
            .0
            .lock()
            .expect("lock")
            .push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        (self.0)
            .0
            .lock()
            .expect("lock")
            .push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.0
            .lock()
            .expect("lock")
            .push(("span".into(), attrs.metadata().name().into()));
        attrs.record(&mut Fields(self));
    }
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        values.record(&mut Fields(self));
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        event.record(&mut Fields(self));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn spans_carry_namespace_digest_and_outcome_but_no_payload() {
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let store = MemoryStore::new().with_max_data_bytes(64);
    let secret = "card-4242-4242-4242-4242";
    for _ in 0..2 {
        let _: String = Idempotent::new("billing::charge")
            .store(&store)
            .key("card", secret)
            .run(|| async { Ok::<_, Error>(format!("receipt for {secret}")) })
            .await
            .expect("call");
    }
    let _ = Idempotent::new("billing::charge")
        .store(&store)
        .key("card", "other")
        .run(|| async { Ok::<_, Error>("x".repeat(100)) })
        .await
        .expect("oversized result");
    let fields = captured.0.lock().expect("lock").clone();
    let spans = fields
        .iter()
        .filter(|(k, v)| k == "span" && v == "idempotent")
        .count();
    assert_eq!(spans, 3, "{fields:?}");
    let outcomes: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "outcome")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(outcomes, ["executed", "replayed", "executed"]);
    assert!(fields
        .iter()
        .any(|(k, v)| k == "namespace" && v == "billing::charge"));
    assert!(fields
        .iter()
        .any(|(k, v)| k == "key" && v.starts_with("billing::charge#") && v.len() == 24));
    let too_large = fields
        .iter()
        .filter(|(k, v)| k == "message" && v.contains("too large"))
        .count();
    assert_eq!(
        too_large, 1,
        "the oversized result warns, the others do not"
    );
    let sizes: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "bytes")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        sizes,
        ["102"],
        "the warning gives the oversized JSON's size"
    );
    for (name, value) in &fields {
        assert!(
            !value.contains("4242") && !value.contains("xxxx"),
            "{name} leaks: {value}"
        );
    }
}

/// A store whose release never finishes and which has no handle to release
/// with outside the call.
struct StuckRelease(MemoryStore);

impl Intercept for StuckRelease {
    fn inner(&self) -> &dyn Store {
        &self.0
    }
    fn release<'a>(&'a self, _: &'a str, _: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(std::future::pending())
    }
    fn detach(&self) -> Option<Arc<dyn Store>> {
        None
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_call_whose_store_cannot_release_says_the_claim_lapses() {
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let store = Intercepted(StuckRelease(MemoryStore::new()));
    let slow = Idempotent::new("tracing::stuck")
        .store(&store)
        .key("id", "s-1")
        .run(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok::<_, Error>(())
        });
    let cut = tokio::time::timeout(std::time::Duration::from_millis(10), slow).await;
    assert!(cut.is_err());
    let fields = captured.0.lock().expect("lock").clone();
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "message" && v.contains("lapses with its lease")),
        "{fields:?}"
    );
    assert_eq!(store.0 .0.len(), 1, "the claim is still there");
}
