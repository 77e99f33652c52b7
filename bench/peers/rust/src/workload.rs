//! One slice of the comparison, the same in all three harnesses
//! (`bench.py`, `bench.mjs`):
//!
//! 1. warm-up: `BENCH_WARMUP_KEYS` keys, first call + duplicate, unmeasured;
//! 2. concurrency 1: `BENCH_SEQ_KEYS` keys, each a first call then a
//!    duplicate, each call timed and its store calls counted;
//! 3. concurrency `BENCH_CONCURRENCY`: `BENCH_CONC_KEYS` keys shared by that
//!    many workers, each key a first call then a duplicate;
//! 4. if `BENCH_SIDE_KEYS` > 0: per key, `BENCH_DELIVERIES` concurrent
//!    deliveries whose body takes `BENCH_BODY_MS`; the side effects counted.
//!
//! CPU time is measured over 2 and 3 only, so process start-up, imports and
//! warm-up do not count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::resource::{getrusage, UsageWho};
use serde_json::json;
use tokio::task::JoinSet;

use crate::client::CallCounter;
use crate::peers::{CallError, Order, Peer};

pub(crate) fn env_var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

pub(crate) fn env_num(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a count")),
        Err(_) => Ok(default),
    }
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) endpoint: String,
    pub(crate) peer: String,
    pub(crate) table: String,
    prefix: String,
    round: usize,
    template: Order,
    warmup_keys: usize,
    seq_keys: usize,
    conc_keys: usize,
    concurrency: usize,
    side_keys: usize,
    deliveries: usize,
    body: Duration,
}

impl Settings {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let payload = env_var("BENCH_PAYLOAD")?;
        let text =
            std::fs::read_to_string(&payload).with_context(|| format!("reading {payload}"))?;
        let template = serde_json::from_str(&text).with_context(|| format!("parsing {payload}"))?;
        let settings = Settings {
            endpoint: env_var("BENCH_ENDPOINT")?,
            peer: env_var("BENCH_PEER")?,
            table: env_var("BENCH_TABLE")?,
            prefix: env_var("BENCH_PREFIX")?,
            round: env_num("BENCH_ROUND", 1)?,
            template,
            warmup_keys: env_num("BENCH_WARMUP_KEYS", 20)?,
            seq_keys: env_num("BENCH_SEQ_KEYS", 250)?,
            conc_keys: env_num("BENCH_CONC_KEYS", 250)?,
            concurrency: env_num("BENCH_CONCURRENCY", 16)?,
            side_keys: env_num("BENCH_SIDE_KEYS", 0)?,
            deliveries: env_num("BENCH_DELIVERIES", 8)?,
            body: Duration::from_millis(env_num("BENCH_BODY_MS", 20)? as u64),
        };
        if settings.concurrency == 0 || settings.deliveries == 0 {
            bail!("BENCH_CONCURRENCY and BENCH_DELIVERIES must be at least 1");
        }
        Ok(settings)
    }

    fn order(&self, phase: &str, i: usize) -> Order {
        let mut order = self.template.clone();
        order.order_id = format!("{}-{phase}-{i}", self.prefix);
        order
    }
}

/// User + system CPU of the whole process (every thread), in seconds.
fn cpu_seconds() -> anyhow::Result<f64> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A first call then a duplicate of one key; both must return the receipt
/// and only the first may run the body.
async fn first_and_duplicate(peer: &Peer, order: &Order) -> anyhow::Result<()> {
    let before = peer.effects();
    let first = peer.call(order, Duration::ZERO).await.map_err(call_error)?;
    let dup = peer.call(order, Duration::ZERO).await.map_err(call_error)?;
    check(peer, before, first == dup)
}

fn check(peer: &Peer, before: u64, same_receipt: bool) -> anyhow::Result<()> {
    if !same_receipt {
        bail!("the duplicate returned another receipt than the first call");
    }
    // Other workers may run bodies meanwhile, so only "at least one" holds here;
    // the totals are checked after each phase.
    if peer.effects() <= before {
        bail!("the first call did not run the body");
    }
    Ok(())
}

pub(crate) fn call_error(e: CallError) -> anyhow::Error {
    match e {
        CallError::InProgress => {
            anyhow::anyhow!("unexpected InProgress outside the side-effect phase")
        }
        CallError::Other(e) => e,
    }
}

pub(crate) async fn run(
    settings: &Settings,
    peer: Peer,
    counter: &CallCounter,
) -> anyhow::Result<serde_json::Value> {
    let peer = Arc::new(peer);

    for i in 0..settings.warmup_keys {
        first_and_duplicate(&peer, &settings.order("warm", i)).await?;
    }

    let cpu_start = cpu_seconds()?;

    let mut first_us = Vec::with_capacity(settings.seq_keys);
    let mut dup_us = Vec::with_capacity(settings.seq_keys);
    let (mut first_calls, mut dup_calls) = (0, 0);
    let effects_before = peer.effects();
    let seq_start = Instant::now();
    for i in 0..settings.seq_keys {
        let order = settings.order("seq", i);
        let calls = counter.get();
        let started = Instant::now();
        let first = peer
            .call(&order, Duration::ZERO)
            .await
            .map_err(call_error)?;
        first_us.push(micros(started.elapsed()));
        first_calls += counter.get() - calls;

        let calls = counter.get();
        let started = Instant::now();
        let dup = peer
            .call(&order, Duration::ZERO)
            .await
            .map_err(call_error)?;
        dup_us.push(micros(started.elapsed()));
        dup_calls += counter.get() - calls;
        if first != dup {
            bail!(
                "the duplicate of {} returned another receipt",
                order.order_id
            );
        }
    }
    let seq_secs = seq_start.elapsed().as_secs_f64();
    let seq_effects = peer.effects() - effects_before;
    if seq_effects != settings.seq_keys as u64 {
        bail!(
            "{seq_effects} bodies ran for {} keys at concurrency 1",
            settings.seq_keys
        );
    }

    let next = Arc::new(AtomicUsize::new(0));
    let effects_before = peer.effects();
    let conc_start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..settings.concurrency {
        let (peer, next) = (Arc::clone(&peer), Arc::clone(&next));
        let template = settings.order("conc", 0);
        let prefix = settings.prefix.clone();
        let keys = settings.conc_keys;
        workers.spawn(async move {
            let mut order = template;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= keys {
                    return anyhow::Ok(());
                }
                order.order_id = format!("{prefix}-conc-{i}");
                first_and_duplicate(&peer, &order).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let conc_secs = conc_start.elapsed().as_secs_f64();
    let conc_effects = peer.effects() - effects_before;
    if conc_effects != settings.conc_keys as u64 {
        bail!(
            "{conc_effects} bodies ran for {} keys at concurrency {}",
            settings.conc_keys,
            settings.concurrency
        );
    }

    let cpu_secs = cpu_seconds()? - cpu_start;

    let (mut side_ok, mut side_in_progress, mut side_errors) = (0u64, 0u64, 0u64);
    let effects_before = peer.effects();
    for k in 0..settings.side_keys {
        let order = Arc::new(settings.order("side", k));
        let mut deliveries = JoinSet::new();
        for _ in 0..settings.deliveries {
            let (peer, order, body) = (Arc::clone(&peer), Arc::clone(&order), settings.body);
            deliveries.spawn(async move { peer.call(&order, body).await });
        }
        while let Some(done) = deliveries.join_next().await {
            match done? {
                Ok(_) => side_ok += 1,
                Err(CallError::InProgress) => side_in_progress += 1,
                Err(CallError::Other(e)) => {
                    eprintln!("side-effect delivery failed: {e:#}");
                    side_errors += 1;
                }
            }
        }
    }
    let side_effects = peer.effects() - effects_before;

    let maxrss_kb = getrusage(UsageWho::RUSAGE_SELF)?.max_rss();
    Ok(json!({
        "peer": settings.peer,
        "api": peer.api(),
        "round": settings.round,
        "first_us": first_us,
        "dup_us": dup_us,
        "first_calls": first_calls,
        "dup_calls": dup_calls,
        "seq_ops": 2 * settings.seq_keys,
        "seq_secs": seq_secs,
        "conc_ops": 2 * settings.conc_keys,
        "conc_secs": conc_secs,
        "concurrency": settings.concurrency,
        "cpu_secs": cpu_secs,
        "maxrss_kb": maxrss_kb,
        "side_keys": settings.side_keys,
        "side_deliveries": settings.deliveries,
        "side_effects": side_effects,
        "side_ok": side_ok,
        "side_in_progress": side_in_progress,
        "side_errors": side_errors,
    }))
}
