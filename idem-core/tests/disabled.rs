//! `IDEM_DISABLED=1`: bodies run directly, every time, unobserved (no
//! span), and still see their key. A test binary of its own, since the switch is read once per process.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use idem_core::{current_key, Error, Idempotent, MemoryStore};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Counts the spans opened.
#[derive(Clone, Default)]
struct Spans(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, _: &tracing::span::Attributes<'_>, _: &tracing::Id, _: Context<'_, S>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn disabled_runs_every_body_and_current_key_is_still_set() {
    // Before any call reads the switch; this binary has one test.
    std::env::set_var("IDEM_DISABLED", "1");
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let store = MemoryStore::new();
    let mut runs = 0;
    for _ in 0..2 {
        let key = Idempotent::new("disabled::pay")
            .store(&store)
            .key("id", "d-1")
            .run(|| async {
                runs += 1;
                Ok::<_, Error>(current_key().map(|k| k.storage_key().to_owned()))
            })
            .await
            .unwrap();
        assert!(key.is_some_and(|k| k.starts_with("disabled::pay#")));
    }
    assert_eq!(runs, 2, "no deduplication when disabled");
    assert!(store.is_empty(), "nothing stored");
    assert_eq!(spans.0.load(Ordering::SeqCst), 0, "no span when disabled");
}
