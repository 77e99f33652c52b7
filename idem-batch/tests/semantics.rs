//! The batch runner's promises on MemoryStore: bounded concurrency, panics
//! caught, in-progress records reported, poison records handed to the
//! failure handler, streams stopping at their first failure.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use idem_batch::{Batch, Failure, Reason, StreamOrder, Verdict};
use idem_core::{Idempotent, MemoryStore};
use serde_json::json;

fn sqs(ids: &[&str]) -> SqsEvent {
    let records: Vec<_> = ids
        .iter()
        .map(|id| json!({"messageId": id, "body": format!("{{\"order_id\":\"{id}\"}}")}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failed(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn no_more_records_run_at_once_than_the_concurrency() {
    let ids: Vec<String> = (0..40).map(|i| format!("m-{i}")).collect();
    let event = sqs(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let response = Batch::new()
        .concurrency(6)
        .sqs(&event, |_| async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, idem_core::Error>(())
        })
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(peak.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_panicking_record_is_failed_and_the_others_go_on() {
    let event = sqs(&["m-1", "m-2", "m-3"]);
    let store = MemoryStore::new();
    let ran = AtomicUsize::new(0);
    let response = Batch::new()
        .sqs(&event, |m| {
            let (store, ran) = (&store, &ran);
            async move {
                let id = m.message_id.as_deref().unwrap();
                Idempotent::new("tests::panics")
                    .store(store)
                    .key("id", id)
                    .run(|| async move {
                        assert_ne!(id, "m-2", "a bug in the handler");
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, idem_core::Error>(())
                    })
                    .await
            }
        })
        .await;
    assert_eq!(failed(&response), ["m-2"]);
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    // The panicking body's claim was released, so its redelivery runs at
    // once; the two that succeeded are saved.
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn a_panic_before_the_first_await_is_caught_too() {
    let event = sqs(&["m-1", "m-2"]);
    let response = Batch::new()
        .sqs(&event, |m: &SqsMessage| {
            assert_ne!(m.message_id.as_deref(), Some("m-1"));
            async { Ok::<_, idem_core::Error>(()) }
        })
        .await;
    assert_eq!(failed(&response), ["m-1"]);
}

#[tokio::test]
async fn a_record_in_progress_elsewhere_is_reported_and_replayed_later() {
    let event = sqs(&["m-1"]);
    let store = MemoryStore::new();
    let slow = |delay_ms: u64| {
        let store = &store;
        move |m: &SqsMessage| {
            let id = m.message_id.clone().unwrap();
            async move {
                Idempotent::new("tests::in_progress")
                    .store(store)
                    .key("id", &id)
                    .run(|| async {
                        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                        Ok::<_, idem_core::Error>(())
                    })
                    .await
            }
        }
    };
    let batch = Batch::new();
    let (first, second) = tokio::join!(batch.sqs(&event, slow(100)), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        batch.sqs(&event, slow(0)).await
    });
    assert!(first.batch_item_failures.is_empty());
    assert_eq!(failed(&second), ["m-1"], "in progress: redelivered later");
    let later = batch.sqs(&event, slow(0)).await;
    assert!(later.batch_item_failures.is_empty());
}

#[tokio::test]
async fn the_failure_handler_sees_typed_errors_and_may_park_a_record() {
    #[derive(Debug)]
    enum RecordError {
        Idem(idem_core::Error),
        Body(idem_batch::BodyError),
    }
    let mut event = sqs(&["m-1", "m-2", "m-3"]);
    event.records[1].body = Some("{\"order_id\": \"o-".into()); // truncated
    event.records[2].body = Some("{\"order_id\": \"\"}".into()); // empty key
    let seen = Mutex::new(Vec::new());
    let store = MemoryStore::new();
    let batch = Batch::new().on_failure(|f: Failure<'_, SqsMessage, RecordError>| {
        let what = match f.reason {
            Reason::Error(RecordError::Body(e)) => format!("{}: {e}", f.id),
            Reason::Error(RecordError::Idem(idem_core::Error::MissingKey { part, .. })) => {
                format!("{}: missing {part}", f.id)
            }
            _ => format!("{}: other", f.id),
        };
        seen.lock().unwrap().push(what);
        // Bad bodies never get better: park them; retry the rest.
        if matches!(f.reason, Reason::Error(RecordError::Body(_))) {
            Verdict::Handled
        } else {
            Verdict::Retry
        }
    });
    #[derive(serde::Deserialize)]
    struct Order {
        order_id: String,
    }
    let response = batch
        .sqs(&event, |m| {
            let store = &store;
            async move {
                let order: Order =
                    idem_batch::parse_json_opt(m.body.as_deref()).map_err(RecordError::Body)?;
                Idempotent::new("tests::typed")
                    .store(store)
                    .key("order_id", &order.order_id)
                    .run(|| async { Ok(()) })
                    .await
                    .map_err(RecordError::Idem)
            }
        })
        .await;
    assert_eq!(failed(&response), ["m-3"]);
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(
        seen,
        [
            "m-2: record body is truncated JSON, at line 1 column 16",
            "m-3: missing order_id"
        ]
    );
}

fn kinesis(n: u64) -> KinesisEvent {
    let records: Vec<_> = (1..=n)
        .map(|i| {
            json!({"kinesis": {"sequenceNumber": format!("{}", 1000 + i), "partitionKey": "p",
                               "data": "e30=", "approximateArrivalTimestamp": 1.7e9}})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

#[tokio::test]
async fn an_in_order_stream_stops_at_its_first_failure() {
    let event = kinesis(5);
    let ran = Mutex::new(Vec::new());
    let response = Batch::new()
        .stream_order(StreamOrder::InOrder)
        .kinesis(&event, |r| {
            let ran = &ran;
            async move {
                let seq = r.kinesis.sequence_number.clone();
                ran.lock().unwrap().push(seq.clone());
                if seq == "1003" {
                    Err("throttled")
                } else {
                    Ok(())
                }
            }
        })
        .await;
    assert_eq!(ran.into_inner().unwrap(), ["1001", "1002", "1003"]);
    let reported: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(reported, [Some("1003")]);
}

#[tokio::test]
async fn a_stream_batch_out_of_order_reports_the_lowest_sequence_number() {
    let mut event = kinesis(4);
    event.records.reverse(); // 1004, 1003, 1002, 1001
    let response = Batch::new()
        .stream_order(StreamOrder::Concurrent)
        .kinesis(&event, |r| async move {
            match r.kinesis.sequence_number.as_str() {
                "1002" | "1004" => Err("failed"),
                _ => Ok(()),
            }
        })
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some("1002")
    );
}
