//! The capacity phase (`idem-peer-bench capacity`): the calls whose cost in
//! DynamoDB capacity units `bench/peers/capacity_proxy.py` measures, one
//! step at a time. `BENCH_ENDPOINT` is the proxy; before each call the
//! harness tells it which step follows, so the proxy charges that call's
//! requests to the step. `py/bench.py` and `ts/bench.mjs` run the same steps
//! (no wait step: Powertools has no waiting policy).
//!
//! Steps, each over `BENCH_CAPACITY_KEYS` fresh keys: `first`, `duplicate`;
//! idem only: `cached_first` and `cached_duplicate` (through
//! [`idem_core::Cached`]), `failed` (the body returns an error), and `wait`
//! (`BENCH_WAIT_KEYS` keys held by an uncounted second client whose body
//! takes `BENCH_WAIT_MS`, while a duplicate waits with
//! `InProgress::Wait`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use idem_core::{Cached, Idempotent, InProgress, Store};
use idem_dynamo::DynamoStore;
use serde_json::json;

use crate::client;
use crate::peers::{charge_body, Order, Peer, Receipt};
use crate::workload::{call_error, env_num, env_var};

/// The proxy signs nothing; it reads this access key to skip a client.
const UNCOUNTED: &str = "uncounted";
/// The namespace of the bench's `#[idempotent]` function, so every idem
/// step writes items of the same shape.
const NAMESPACE: &str = "bench::charge";

struct Steps {
    proxy: String,
    peer: String,
}

impl Steps {
    /// Tells the proxy that what follows is one call of `step` ("idle": not
    /// counted). A blocking request: the proxy answers at once, and the
    /// next call must not start before it has switched.
    fn mark(&self, step: &str) -> anyhow::Result<()> {
        let addr = self.proxy.trim_start_matches("http://");
        let mut conn = TcpStream::connect(addr).with_context(|| format!("the proxy at {addr}"))?;
        write!(
            conn,
            "GET /__step?peer={}&step={step} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            self.peer
        )?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply)?;
        if !reply.starts_with("HTTP/1.1 200") {
            bail!("the proxy refused step {step}");
        }
        Ok(())
    }
}

pub(crate) async fn run() -> anyhow::Result<serde_json::Value> {
    let endpoint = env_var("BENCH_ENDPOINT")?;
    let peer_name = env_var("BENCH_PEER")?;
    let table = env_var("BENCH_TABLE")?;
    let prefix = env_var("BENCH_PREFIX")?;
    let payload = env_var("BENCH_PAYLOAD")?;
    let keys = env_num("BENCH_CAPACITY_KEYS", 10)?;
    let wait_keys = env_num("BENCH_WAIT_KEYS", 2)?;
    let wait = Duration::from_millis(env_num("BENCH_WAIT_MS", 2000)? as u64);
    let template: Order = serde_json::from_str(&std::fs::read_to_string(&payload)?)?;
    // Labels of one length, so every completed item has an order id of the
    // same size whichever step wrote it.
    let order = |step: &str, i: usize| {
        let mut order = template.clone();
        order.order_id = format!("{prefix}-{step}-{i}");
        order
    };
    let steps = Steps {
        proxy: endpoint.clone(),
        peer: peer_name.clone(),
    };
    let client = client::dynamodb(&endpoint, None).await;
    let peer = Peer::new(&peer_name, client.clone(), &table)?;

    for i in 0..keys {
        let order = order("plain", i);
        steps.mark("first")?;
        let first = peer
            .call(&order, Duration::ZERO)
            .await
            .map_err(call_error)?;
        steps.mark("duplicate")?;
        let dup = peer
            .call(&order, Duration::ZERO)
            .await
            .map_err(call_error)?;
        if first != dup {
            bail!(
                "the duplicate of {} returned another receipt",
                order.order_id
            );
        }
    }
    steps.mark("idle")?;
    let mut wait_secs = 0.0;
    if peer_name == "idem" {
        let store = DynamoStore::new(client, &table);
        let cached = Cached::new(store.clone(), 1_000);
        let effects = AtomicU64::new(0);
        for i in 0..keys {
            let order = order("cache", i);
            steps.mark("cached_first")?;
            let first = charge(&cached, &order, &effects).await?;
            steps.mark("cached_duplicate")?;
            if charge(&cached, &order, &effects).await? != first {
                bail!("the cached duplicate returned another receipt");
            }
        }
        for i in 0..keys {
            steps.mark("failed")?;
            let failed: Result<Receipt, _> = Idempotent::new(NAMESPACE)
                .store(&store)
                .key("order_id", &order("failed", i).order_id)
                .run(|| async { Err(anyhow!("declined")) })
                .await;
            if failed.is_ok() {
                bail!("a failing body returned a receipt");
            }
        }
        steps.mark("idle")?;
        let holder = DynamoStore::new(
            client::dynamodb_as(&endpoint, UNCOUNTED, None).await,
            &table,
        );
        for i in 0..wait_keys {
            wait_secs += wait_once(&steps, &holder, &store, &order("wait", i), wait).await?;
        }
    }
    Ok(json!({
        "peer": peer_name,
        "capacity_keys": keys,
        "wait_keys": if peer_name == "idem" { wait_keys } else { 0 },
        "wait_secs": wait_secs,
        "hold_ms": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
    }))
}

async fn charge(store: &impl Store, order: &Order, effects: &AtomicU64) -> anyhow::Result<Receipt> {
    Idempotent::new(NAMESPACE)
        .store(store)
        .key("order_id", &order.order_id)
        .run(|| async { Ok::<_, anyhow::Error>(charge_body(order, effects, Duration::ZERO).await) })
        .await
}

/// One key held by `holder` (uncounted) for `hold`, and a duplicate on
/// `store` waiting for its result: what the wait costs, and how long it took.
async fn wait_once(
    steps: &Steps,
    holder: &DynamoStore,
    store: &DynamoStore,
    order: &Order,
    hold: Duration,
) -> anyhow::Result<f64> {
    let effects = AtomicU64::new(0);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let held = Idempotent::new(NAMESPACE)
        .store(holder)
        .key("order_id", &order.order_id)
        .run(|| async {
            let _ = started_tx.send(());
            Ok::<_, anyhow::Error>(charge_body(order, &effects, hold).await)
        });
    let waited = async {
        started_rx.await?;
        steps.mark("wait")?;
        let started = Instant::now();
        let got: Receipt = Idempotent::new(NAMESPACE)
            .store(store)
            .key("order_id", &order.order_id)
            .in_progress(InProgress::Wait(Some(hold * 10)))
            .run(|| async { Err(anyhow!("the waiting duplicate ran the body")) })
            .await?;
        let secs = started.elapsed().as_secs_f64();
        steps.mark("idle")?;
        anyhow::Ok((got, secs))
    };
    let (held, waited) = tokio::join!(held, waited);
    let (got, secs) = waited?;
    if got != held? {
        bail!("the waiting duplicate got another receipt");
    }
    Ok(secs)
}
