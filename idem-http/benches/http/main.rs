//! idem-http on loopback, MemoryStore: a bare axum handler returning the
//! same bytes, against a replayed request and a first request through the
//! layer; beside them the `axum-idempotent` crate (session store: moka), and
//! three references: the handler reading its body, a middleware that only
//! buffers the body and rebuilds the request (the floor of any layer that
//! fingerprints bodies), and the least an in-memory idempotency middleware
//! can do (hash key and request, look up a map, replay a clone), which bounds
//! what the targets leave to everything else a layer must do.
//!
//! `cargo bench -p idem-http --bench http`. After criterion's groups it
//! prints the layer's own cost in process (hot, and with the caches evicted
//! before each request), a table of p50/p99 from interleaved rounds on
//! loopback (one keep-alive connection, sequential requests), and the
//! handler runs under 8 concurrent same-key requests on separate
//! connections. `-- report-only` prints the tables alone.
#![allow(missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use idem_core::MemoryStore;
use idem_http::IdempotencyLayer;
use ruts::store::moka::MokaStore;
use ruts::{CookieOptions, SessionLayer};

mod handlers;
mod in_process;

use handlers::*;
use in_process::in_process;

async fn server() -> SocketAddr {
    let idem = Router::new()
        .route("/idem", post(handler))
        .route("/idem-slow", post(slow_handler))
        .layer(IdempotencyLayer::new(MemoryStore::new()));
    let peer_options = axum_idempotent::IdempotentOptions::default()
        .use_idempotency_key_header(Some("idempotency-key"), true)
        .expire_after(3600);
    let peer = Router::new()
        .route("/peer", post(handler))
        .route("/peer-slow", post(slow_handler))
        .layer(axum_idempotent::IdempotentLayer::<MokaStore>::new(
            peer_options,
        ))
        .route("/login", post(login))
        .layer(
            SessionLayer::new(Arc::new(MokaStore::builder().build()))
                .with_cookie_options(CookieOptions::build().name("session").path("/")),
        )
        .layer(tower_cookies::CookieManagerLayer::new());
    let floor = Router::new()
        .route("/buffered", post(handler))
        .layer(axum::middleware::from_fn(buffering));
    let least = Router::new()
        .route("/least", post(handler))
        .layer(axum::middleware::from_fn(least));
    let app = Router::new()
        .route("/bare", post(handler))
        .route("/bare-reading", post(reading_handler))
        .merge(floor)
        .merge(least)
        .merge(idem)
        .merge(peer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Client {
    sender: SendRequest<Full<Bytes>>,
    cookie: Option<String>,
}

async fn connect(addr: SocketAddr) -> Client {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    Client {
        sender,
        cookie: None,
    }
}

impl Client {
    async fn post(&mut self, path: &str, key: Option<&str>) -> (u16, Bytes) {
        let mut request = http::Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        self.sender.ready().await.unwrap();
        let response = self
            .sender
            .send_request(request.body(Full::from(REQUEST)).unwrap())
            .await
            .unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        let status = response.status().as_u16();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }
}

/// What one measured request does.
#[derive(Clone, Copy)]
enum Case {
    Bare,
    BareReading,
    Buffered,
    Replay,
    First,
    LeastReplay,
    LeastFirst,
    PeerReplay,
    PeerFirst,
}

impl Case {
    const ALL: [Case; 9] = [
        Case::Bare,
        Case::BareReading,
        Case::Buffered,
        Case::Replay,
        Case::First,
        Case::LeastReplay,
        Case::LeastFirst,
        Case::PeerReplay,
        Case::PeerFirst,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Bare => "bare axum handler",
            Case::BareReading => "bare handler reading its body (reference)",
            Case::Buffered => "body-buffering middleware, no idempotency (floor)",
            Case::Replay => "idem-http replay",
            Case::First => "idem-http first request",
            Case::LeastReplay => "least idempotency middleware replay (reference)",
            Case::LeastFirst => "least idempotency middleware first request (reference)",
            Case::PeerReplay => "axum-idempotent replay",
            Case::PeerFirst => "axum-idempotent first request",
        }
    }

    async fn once(self, client: &mut Client, n: u64) {
        let fresh = format!("k-{n}");
        let (status, body) = match self {
            Case::Bare => client.post("/bare", None).await,
            Case::BareReading => client.post("/bare-reading", None).await,
            Case::Buffered => client.post("/buffered", None).await,
            Case::Replay => client.post("/idem", Some("replayed")).await,
            Case::First => client.post("/idem", Some(&fresh)).await,
            Case::LeastReplay => client.post("/least", Some("replayed")).await,
            Case::LeastFirst => client.post("/least", Some(&fresh)).await,
            Case::PeerReplay => client.post("/peer", Some("replayed")).await,
            Case::PeerFirst => client.post("/peer", Some(&fresh)).await,
        };
        debug_assert_eq!((status, body.len()), (201, BODY.len()));
        let _ = (status, body);
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    client: tokio::sync::Mutex<Client>,
    next: AtomicU64,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, client) = rt.block_on(async {
        let addr = server().await;
        let mut client = connect(addr).await;
        client.post("/login", None).await; // the peer caches only inside a session
        assert!(client.cookie.is_some(), "a session cookie");
        client.post("/idem", Some("replayed")).await;
        client.post("/peer", Some("replayed")).await;
        client.post("/least", Some("replayed")).await;
        (addr, client)
    });
    Setup {
        rt,
        addr,
        client: tokio::sync::Mutex::new(client),
        next: AtomicU64::new(0),
    }
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("loopback");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(60);
    for case in Case::ALL {
        group.bench_function(case.name(), |b| {
            b.to_async(&setup.rt).iter(|| async {
                let mut client = setup.client.lock().await;
                case.once(&mut client, setup.next.fetch_add(1, Ordering::Relaxed))
                    .await;
            })
        });
    }
    group.finish();
    setup.rt.block_on(report(&setup));
}

/// p50/p99 from interleaved rounds, then the concurrent same-key runs.
async fn report(setup: &Setup) {
    const ROUNDS: usize = 20;
    const PER_ROUND: usize = 250;
    let mut samples: Vec<Vec<u128>> = vec![Vec::new(); Case::ALL.len()];
    let mut client = setup.client.lock().await;
    for _ in 0..ROUNDS {
        for (i, case) in Case::ALL.into_iter().enumerate() {
            for _ in 0..PER_ROUND {
                let n = setup.next.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                case.once(&mut client, n).await;
                samples[i].push(start.elapsed().as_nanos());
            }
        }
    }
    let pct = |v: &mut Vec<u128>, p: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0
    };
    let bare_p50 = pct(&mut samples[0].clone(), 0.5);
    println!("\n| case | p50 µs | p99 µs | p50 / bare |");
    println!("|---|---:|---:|---:|");
    for (i, case) in Case::ALL.into_iter().enumerate() {
        let p50 = pct(&mut samples[i], 0.5);
        let p99 = pct(&mut samples[i], 0.99);
        println!(
            "| {} | {p50:.1} | {p99:.1} | {:.3}× |",
            case.name(),
            p50 / bare_p50
        );
    }
    drop(client);
    println!(
        "\n| 8 concurrent same-key requests (separate connections, 50 ms handler) | handler runs |"
    );
    println!("|---|---:|");
    for (name, path, cookie) in [
        ("idem-http", "/idem-slow", false),
        ("axum-idempotent", "/peer-slow", true),
    ] {
        let mut runs = Vec::new();
        for trial in 0..5 {
            let before = RUNS.load(Ordering::SeqCst);
            let cookie = if cookie {
                setup.client.lock().await.cookie.clone()
            } else {
                None
            };
            let key = format!("{name}-concurrent-{trial}");
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let (key, cookie, addr) = (key.clone(), cookie.clone(), setup.addr);
                tasks.spawn(async move {
                    let mut client = connect(addr).await;
                    client.cookie = cookie;
                    client.post(path, Some(&key)).await.0
                });
            }
            while tasks.join_next().await.is_some() {}
            runs.push(RUNS.load(Ordering::SeqCst) - before);
        }
        println!("| {name} | {runs:?} (5 trials) |");
    }
}

criterion_group!(benches, in_process, bench);
criterion_main!(benches);
