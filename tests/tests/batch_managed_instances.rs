//! Lambda Managed Instances run several invocations at once in one process.
//! Here 8 concurrent invocations (tasks of a multi-threaded runtime) share the
//! process default store — `Cached<DynamoStore>` on DynamoDB Local — and each
//! runs an SQS batch through idem-batch; the batches overlap (every order is
//! in two batches). Every order's effect happens once; every record either
//! succeeds or is reported in progress; redelivering the reported records
//! finishes them without a second effect; and a final redelivery of
//! everything is answered by the cache alone (no DynamoDB request).
//!
//! Its own test binary: the default store is set once per process.
#![allow(clippy::unwrap_used)]

mod dynamo_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use idem_batch::Batch;
use idem_core::{idempotent, Cached};
use serde::Deserialize;
use serde_json::json;

static EFFECTS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    #[error(transparent)]
    Body(#[from] idem_batch::BodyError),
}

#[derive(Deserialize)]
struct Payment {
    order_id: String,
}

/// Guarded with the process default store (no `store = …`).
#[idempotent(key = "payment.order_id", name = "tests::managed::charge")]
async fn charge(payment: &Payment) -> Result<String, RecordError> {
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    *EFFECTS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(payment.order_id.clone())
        .or_default() += 1;
    Ok(format!("charged {}", payment.order_id))
}

async fn process(message: &SqsMessage) -> Result<String, RecordError> {
    let payment: Payment = idem_batch::parse_json_opt(message.body.as_deref())?;
    charge(&payment).await
}

/// Invocation `i` carries orders `i*5 .. i*5+10` (mod 40): each order in two batches.
fn batch(i: usize) -> SqsEvent {
    let records: Vec<_> = (0..10)
        .map(|j| {
            let order = (i * 5 + j) % 40;
            json!({"messageId": format!("inv{i}-m{j}"),
                   "body": json!({"order_id": format!("o-{order}")}).to_string()})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// Runs the 8 invocations concurrently; returns the messages each reported.
async fn invoke_all(events: Vec<SqsEvent>) -> Vec<(SqsEvent, Vec<String>)> {
    let tasks: Vec<_> = events
        .into_iter()
        .map(|event| {
            tokio::spawn(async move {
                let response = Batch::new().sqs(&event, process).await;
                let failed = response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect();
                (event, failed)
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_in_one_process_share_the_default_store_correctly() {
    let Some(db) = dynamo_support::local("batch-managed") else {
        return;
    };
    let store = db.store().await;
    assert!(idem_core::set_default_store(Arc::new(Cached::new(store, 1_000))).is_ok());
    db.requests.take();

    let mut pending: Vec<SqsEvent> = (0..8).map(batch).collect();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(
            rounds <= 5,
            "in-progress records must finish after a redelivery or two"
        );
        let results = invoke_all(pending).await;
        // The source redelivers exactly the reported messages.
        pending = results
            .into_iter()
            .filter(|(_, failed)| !failed.is_empty())
            .map(|(mut event, failed)| {
                event
                    .records
                    .retain(|m| failed.contains(m.message_id.as_ref().unwrap()));
                event
            })
            .collect();
    }
    let effects = EFFECTS.lock().unwrap().clone().unwrap();
    assert_eq!(effects.len(), 40);
    assert!(effects.values().all(|&n| n == 1), "{effects:?}");

    // Everything again: replayed from the cache, no DynamoDB request, no effect.
    db.requests.take();
    let results = invoke_all((0..8).map(batch).collect()).await;
    assert!(results.iter().all(|(_, failed)| failed.is_empty()));
    assert_eq!(db.requests.take(), Vec::<String>::new());
    assert_eq!(EFFECTS.lock().unwrap().clone().unwrap(), effects);
}
