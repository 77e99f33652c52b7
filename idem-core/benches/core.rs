//! Hot-path costs on this machine: key hashing, MemoryStore replay and first
//! execution, and `#[idempotent]` against the hand-written builder chain it
//! expands to. Run with `cargo bench -p idem-core --bench core`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use idem_core::testing::ManualClock;
use idem_core::{idempotent, Error, Idempotent, Key, MemoryStore};
use serde::Serialize;

#[derive(Serialize)]
struct Order {
    order_id: String,
    customer: u64,
    amount_cents: u64,
    currency: &'static str,
}

fn order() -> Order {
    Order {
        order_id: "ord-2026-11-29-000042".into(),
        customer: 7_001,
        amount_cents: 12_50,
        currency: "EUR",
    }
}

/// About 1 KB as JSON: 16 line items with a few fields each.
fn payload() -> BTreeMap<String, serde_json::Value> {
    (0..16)
        .map(|i| {
            (
                format!("item-{i:02}"),
                serde_json::json!({"sku": format!("SKU-{i:04}"), "qty": i, "price": 199 * i, "gift": i % 3 == 0}),
            )
        })
        .collect()
}

#[derive(Serialize)]
struct OrderEvent {
    event_id: String,
    kind: &'static str,
    occurred_at: String,
    tenant: u32,
    customer: Customer,
    currency: &'static str,
    lines: Vec<Line>,
    total_cents: u64,
    paid: bool,
}

#[derive(Serialize)]
struct Customer {
    id: u64,
    email: String,
    country: &'static str,
}

#[derive(Serialize)]
struct Line {
    sku: String,
    name: String,
    quantity: u32,
    unit_cents: u64,
    discount_cents: i64,
}

/// The order event: a typed, nested struct with 8 lines, about 1 KB
/// as JSON.
fn order_event() -> OrderEvent {
    let lines: Vec<Line> = (0..8u32)
        .map(|i| Line {
            sku: format!("SKU-{:06}", 1000 + i),
            name: format!("Organic cotton t-shirt, size {i}"),
            quantity: 1 + i % 3,
            unit_cents: 1_999 + u64::from(i) * 250,
            discount_cents: -i64::from(i % 2) * 100,
        })
        .collect();
    OrderEvent {
        event_id: "evt_01JDX8Q5Z3M9W2K7R4T6Y8B0C1".into(),
        kind: "order.placed",
        occurred_at: "2026-11-29T18:53:12.345Z".into(),
        tenant: 42,
        customer: Customer {
            id: 9_000_017,
            email: "jane.doe@example.com".into(),
            country: "DE",
        },
        currency: "EUR",
        total_cents: lines
            .iter()
            .map(|l| l.unit_cents * u64::from(l.quantity))
            .sum(),
        lines,
        paid: true,
    }
}

/// The key of the order event, typed and as a `serde_json::Value`, next to
/// the reference it is measured against: `serde_json::to_vec` and
/// `blake3::hash` of the same event.
fn event_hashing(c: &mut Criterion) {
    let event = order_event();
    let value = serde_json::to_value(&event).expect("json");
    let json_len = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0);
    assert!(
        (900..=1300).contains(&json_len),
        "about 1 KB, got {json_len}"
    );
    let mut group = c.benchmark_group("event_1KB");
    group.bench_function("key/typed", |b| {
        b.iter(|| {
            Key::builder("bench::order")
                .part("event", black_box(&event))
                .finish()
        })
    });
    group.bench_function("key/value", |b| {
        b.iter(|| {
            Key::builder("bench::order")
                .part("event", black_box(&value))
                .finish()
        })
    });
    group.bench_function("json_then_blake3/typed", |b| {
        b.iter(|| serde_json::to_vec(black_box(&event)).map(|v| blake3::hash(&v)))
    });
    group.bench_function("json_then_blake3/value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).map(|v| blake3::hash(&v)))
    });
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let order = order();
    let payload = payload();
    assert!(
        serde_json::to_string(&payload)
            .map(|s| s.len())
            .unwrap_or(0)
            >= 900
    );
    c.bench_function("key/small_struct", |b| {
        b.iter(|| {
            Key::builder("bench::charge")
                .part("order", black_box(&order))
                .finish()
        })
    });
    c.bench_function("key/1KB_payload", |b| {
        b.iter(|| {
            Key::builder("bench::charge")
                .part("payload", black_box(&payload))
                .finish()
        })
    });
}

/// The single-threaded runtime the store benches run in (a Lambda's).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn memory_store(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStore::new();
    let order = order();
    rt.block_on(async {
        Idempotent::new("bench::charge")
            .store(&store)
            .key("order.order_id", &order.order_id)
            .run(|| async { Ok::<_, Error>(order.amount_cents) })
            .await
    })
    .expect("first call");
    // `to_async` runs all iterations inside one `block_on`, so the figures
    // are the call's own cost, not the runtime's entry and exit.
    c.bench_function("memory/replay", |b| {
        b.to_async(&rt).iter(|| {
            Idempotent::new("bench::charge")
                .store(&store)
                .key("order.order_id", black_box(&order.order_id))
                .run(|| async { Ok::<u64, Error>(0) })
        })
    });
    // A new key each time, on a store in steady state: the clock moves a
    // minute per call with a 10-minute ttl, so records expire and the sweep
    // keeps the map at a few hundred entries, as in a long-running process
    // (an ever-growing map would measure rehashing instead).
    let steady = MemoryStore::new();
    let clock = ManualClock::new(1_000_000_000);
    let n = std::cell::Cell::new(0u64);
    c.bench_function("memory/first_execution", |b| {
        b.to_async(&rt).iter(|| {
            n.set(n.get() + 1);
            clock.advance(Duration::from_secs(60));
            let key = n.get();
            Idempotent::new("bench::charge")
                .store(&steady)
                .clock(&clock)
                .ttl(Duration::from_secs(600))
                .lease(Duration::from_secs(60))
                .key("n", &key)
                .run(move || async move { Ok::<u64, Error>(key) })
        })
    });
    assert!(steady.len() < 10_000, "the sweep keeps the store bounded");
}

// Same namespace length, same key, same store: only the call site differs.
#[idempotent(key = "order.order_id", store = store, name = "bench::via_macro")]
async fn via_macro(order: &Order, store: &MemoryStore) -> Result<u64, Error> {
    Ok(order.amount_cents)
}

async fn by_hand(order: &Order, store: &MemoryStore) -> Result<u64, Error> {
    Idempotent::new("bench::by_hand__")
        .store(store)
        .key("order.order_id", &order.order_id)
        .run(|| async { Ok(order.amount_cents) })
        .await
}

fn macro_overhead(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStore::new();
    let order = order();
    rt.block_on(async {
        via_macro(&order, &store).await?;
        by_hand(&order, &store).await
    })
    .expect("first calls");
    let mut group = c.benchmark_group("replay");
    group.bench_function("macro", |b| {
        b.to_async(&rt)
            .iter(|| via_macro(black_box(&order), &store))
    });
    group.bench_function("programmatic", |b| {
        b.to_async(&rt).iter(|| by_hand(black_box(&order), &store))
    });
    group.finish();
}

criterion_group!(
    benches,
    event_hashing,
    hashing,
    memory_store,
    macro_overhead
);
criterion_main!(benches);
