//! The layer's own cost in process, hot and with cold caches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::routing::post;
use axum::Router;
use criterion::Criterion;
use http_body_util::BodyExt;
use idem_core::MemoryStore;
use idem_http::IdempotencyLayer;

use crate::handlers::{handler, least, REQUEST};

/// The layer's own cost, without the network: a tower `oneshot` of the
/// same axum router, bare and through the layer, with hot and with cold
/// caches.
pub(crate) fn in_process(c: &mut Criterion) {
    use tower::ServiceExt;
    const CASES: [&str; 5] = [
        "bare axum handler",
        "idem-http replay",
        "idem-http first request",
        "least idempotency middleware replay (reference)",
        "least idempotency middleware first request (reference)",
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare = Router::new().route("/bare", post(handler));
    let idem = Router::new()
        .route("/idem", post(handler))
        .layer(IdempotencyLayer::new(MemoryStore::new()));
    let least = Router::new()
        .route("/least", post(handler))
        .layer(axum::middleware::from_fn(least));
    let n = AtomicU64::new(0);
    // One request of case `case` (an index into `CASES`), its body read.
    let once = |case: usize| {
        let fresh = || format!("in-process-{}", n.fetch_add(1, Ordering::Relaxed));
        let (router, path, key) = match case {
            0 => (&bare, "/bare", None),
            1 => (&idem, "/idem", Some("replayed".to_owned())),
            2 => (&idem, "/idem", Some(fresh())),
            3 => (&least, "/least", Some("replayed".to_owned())),
            _ => (&least, "/least", Some(fresh())),
        };
        let mut request = http::Request::post(path).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(axum::body::Body::from(REQUEST)).unwrap();
        async move {
            let response = router.clone().oneshot(request).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        }
    };
    rt.block_on(once(1));
    rt.block_on(once(3));
    let mut group = c.benchmark_group("in-process");
    for (case, name) in CASES.into_iter().enumerate() {
        group.bench_function(name, |b| b.to_async(&rt).iter(|| once(case)));
    }
    group.finish();

    // The same three, interleaved in rounds, so that the ratios hold on a
    // machine whose speed drifts (criterion's groups run minutes apart).
    const ROUNDS: usize = 40;
    const PER_ROUND: u32 = 2_000;
    let mut means: [Vec<f64>; 5] = Default::default();
    for _ in 0..ROUNDS {
        for (case, means) in means.iter_mut().enumerate() {
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..PER_ROUND {
                    once(case).await;
                }
            });
            means.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let hot = means.map(median);

    // The same three with the caches evicted before each request (4 MiB
    // written, more than this machine's L2 and its share of L3), timed one
    // by one: what a request costs when the code and data it touches are
    // cold, as on a server between requests. The gap between the two
    // tables is what loopback adds to the hot figures.
    const COLD_ROUNDS: usize = 20;
    const COLD_PER_ROUND: usize = 100;
    let mut evict = vec![0u8; 4 << 20];
    let mut cold: [Vec<f64>; 5] = Default::default();
    for round in 0..COLD_ROUNDS {
        for (case, samples) in cold.iter_mut().enumerate() {
            for _ in 0..COLD_PER_ROUND {
                for byte in evict.iter_mut().step_by(64) {
                    *byte = byte.wrapping_add(round as u8);
                }
                std::hint::black_box(&evict);
                let start = Instant::now();
                rt.block_on(once(case));
                samples.push(start.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let cold = cold.map(median);
    println!("\n| in process | hot µs ({ROUNDS} interleaved rounds of {PER_ROUND}, median of means) | layer's own | cold µs (caches evicted, median of {}) | layer's own |", COLD_ROUNDS * COLD_PER_ROUND);
    println!("|---|---:|---:|---:|---:|");
    for (i, name) in CASES.into_iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            hot[i],
            hot[i] - hot[0],
            cold[i],
            cold[i] - cold[0]
        );
    }
}
