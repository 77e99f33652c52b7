//! `PEER_MODE=batch`: SQS batches of `BENCH_BATCH_SIZE` records (default 10),
//! each record's body the bench payload with its own `order_id`, handled as a
//! Lambda function would; every batch is delivered twice (the second time
//! every record is a replay). Peers:
//!
//! - `raw-concurrent`: the raw SDK peer's requests (claim, complete) for all
//!   records at once (`join_all`): the limit for concurrent records;
//! - `idem-batch`: `idem_batch::Batch::sqs` over `#[idempotent]`;
//! - `idem-sequential`: a `for` loop awaiting `#[idempotent]` per record.
//!
//! Prints one JSON line: the peer and each batch's latency, in ms.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::json;

use crate::peers::{CallError, Order, Peer};
use crate::workload::env_var;

fn env_num(name: &str, default: usize) -> anyhow::Result<usize> {
    std::env::var(name).map_or(Ok(default), |v| {
        v.parse()
            .with_context(|| format!("{name}={v} is not a count"))
    })
}

/// One SQS batch of fresh orders.
fn event(template: &Order, prefix: &str, batch: usize, size: usize) -> anyhow::Result<SqsEvent> {
    let records = (0..size)
        .map(|i| {
            let mut order = template.clone();
            order.order_id = format!("{prefix}-b{batch}-{i}");
            Ok(json!({
                "messageId": format!("{prefix}-m{batch}-{i}"),
                "body": serde_json::to_string(&order)?,
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(serde_json::from_value(json!({ "Records": records }))?)
}

async fn record(peer: &Peer, message: &SqsMessage) -> anyhow::Result<()> {
    let order: Order = idem_batch::parse_json_opt(message.body.as_deref())?;
    match peer.call(&order, Duration::ZERO).await {
        Ok(_) => Ok(()),
        Err(CallError::InProgress) => Err(anyhow::anyhow!("in progress")),
        Err(CallError::Other(e)) => Err(e),
    }
}

fn failed(ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for id in ids {
        response.add_failure(id);
    }
    response
}

async fn handle(
    mode: &str,
    peer: &Peer,
    batch: &idem_batch::Batch,
    event: &SqsEvent,
) -> SqsBatchResponse {
    let id = |m: &SqsMessage| m.message_id.clone().unwrap_or_default();
    match mode {
        "idem-batch" => batch.sqs(event, |m| record(peer, m)).await,
        "raw-concurrent" => {
            let results =
                futures_util::future::join_all(event.records.iter().map(|m| record(peer, m))).await;
            failed(
                event
                    .records
                    .iter()
                    .zip(results)
                    .filter(|(_, r)| r.is_err())
                    .map(|(m, _)| id(m)),
            )
        }
        _ => {
            let mut ids = Vec::new();
            for m in &event.records {
                if record(peer, m).await.is_err() {
                    ids.push(id(m));
                }
            }
            failed(ids)
        }
    }
}

pub(crate) async fn run(peer: Peer, mode: &str) -> anyhow::Result<String> {
    let payload = env_var("BENCH_PAYLOAD")?;
    let template: Order = serde_json::from_str(&std::fs::read_to_string(&payload)?)?;
    let prefix = env_var("BENCH_PREFIX")?;
    let batches = env_num("BENCH_BATCHES", 100)?;
    let size = env_num("BENCH_BATCH_SIZE", 10)?;
    let warmup = env_num("BENCH_WARMUP_BATCHES", 5)?;
    // Concurrency = batch size: every record of a batch at once.
    let batch = idem_batch::Batch::new().concurrency(size);
    let (mut first_ms, mut replay_ms) = (Vec::new(), Vec::new());
    for b in 0..warmup + batches {
        let event = event(&template, &prefix, b, size)?;
        for (delivery, times) in [(1, &mut first_ms), (2, &mut replay_ms)] {
            let started = Instant::now();
            let response = handle(mode, &peer, &batch, &event).await;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if !response.batch_item_failures.is_empty() {
                bail!("{mode}: delivery {delivery} of batch {b} failed records: {response:?}");
            }
            if b >= warmup {
                times.push(ms);
            }
        }
    }
    let effects = peer.effects();
    let expected = ((warmup + batches) * size) as u64;
    if effects != expected {
        bail!("{mode}: {effects} side effects for {expected} records");
    }
    Ok(json!({
        "peer": mode, "batch_size": size, "first_ms": first_ms, "replay_ms": replay_ms,
        "effects": effects, "records": expected,
    })
    .to_string())
}
