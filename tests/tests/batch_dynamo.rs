//! idem-batch on DynamoDB Local: each source with failures in the middle of a
//! batch (the exact partial batch response), then the redelivery the source
//! would make, whose already-succeeded records are replayed, not run again.

#![allow(clippy::unwrap_used)]

mod dynamo_support;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use idem_batch::{Batch, StreamOrder};
use idem_core::{Idempotent, Outcome, Store};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    #[error(transparent)]
    Body(#[from] idem_batch::BodyError),
    #[error("downstream refused order {0}")]
    Refused(String),
}

#[derive(Deserialize)]
struct Payment {
    order_id: String,
    amount_cents: u64,
}

/// The downstream system: counts the effects per order, refuses some.
#[derive(Default)]
struct Ledger {
    effects: Mutex<HashMap<String, u32>>,
    refuse: Mutex<HashSet<String>>,
    outcomes: Mutex<Vec<(String, Outcome)>>,
}

impl Ledger {
    fn refusing(orders: &[&str]) -> Self {
        let ledger = Ledger::default();
        ledger.set_refused(orders);
        ledger
    }

    fn set_refused(&self, orders: &[&str]) {
        *self.refuse.lock().unwrap() = orders.iter().map(|s| (*s).to_owned()).collect();
    }

    fn effects(&self, order: &str) -> u32 {
        self.effects
            .lock()
            .unwrap()
            .get(order)
            .copied()
            .unwrap_or(0)
    }

    /// How many records were replayed since the last call.
    fn take_replayed(&self) -> Vec<String> {
        let mut replayed: Vec<String> = std::mem::take(&mut *self.outcomes.lock().unwrap())
            .into_iter()
            .filter(|(_, o)| *o == Outcome::Replayed)
            .map(|(order, _)| order)
            .collect();
        replayed.sort();
        replayed
    }

    /// One guarded charge (the only call site of the namespace).
    async fn charge(&self, store: &dyn Store, payment: Payment) -> Result<(), RecordError> {
        let order = payment.order_id.clone();
        let (_, outcome) = Idempotent::new("batch-tests::charge")
            .store(store)
            .key("order_id", &payment.order_id)
            .validate(&payment.amount_cents)
            .run_with_outcome(|| async {
                // Some latency, so records overlap.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                if self.refuse.lock().unwrap().contains(&payment.order_id) {
                    return Err(RecordError::Refused(payment.order_id.clone()));
                }
                *self
                    .effects
                    .lock()
                    .unwrap()
                    .entry(payment.order_id.clone())
                    .or_default() += 1;
                Ok(())
            })
            .await?;
        self.outcomes.lock().unwrap().push((order, outcome));
        Ok(())
    }
}

fn sqs_message(id: &str, body: &str, group: Option<&str>) -> Value {
    let (arn, attributes) = match group {
        Some(group) => (
            "arn:aws:sqs:us-east-1:123456789012:payments.fifo",
            json!({"ApproximateReceiveCount": "1", "MessageGroupId": group}),
        ),
        None => (
            "arn:aws:sqs:us-east-1:123456789012:payments",
            json!({"ApproximateReceiveCount": "1"}),
        ),
    };
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
        "attributes": attributes, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"
    })
}

fn payment(order: &str) -> String {
    json!({"order_id": order, "amount_cents": 100}).to_string()
}

fn sqs_failures(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

async fn process_sqs(
    store: &dyn Store,
    ledger: &Ledger,
    message: &SqsMessage,
) -> Result<(), RecordError> {
    let payment: Payment = idem_batch::parse_json_opt(message.body.as_deref())?;
    ledger.charge(store, payment).await
}

#[tokio::test]
async fn sqs_standard_reports_exactly_the_failed_records_and_a_redelivery_replays_the_rest() {
    let Some(db) = dynamo_support::local("batch-sqs") else {
        return;
    };
    let store = db.store().await;
    let ledger = Ledger::refusing(&["o-4"]);
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_message("m-1", &payment("o-1"), None),
        sqs_message("m-2", &payment("o-2"), None),
        sqs_message("m-3", "{not json", None),                    // bad body
        sqs_message("m-4", &payment("o-4"), None),                // refused downstream
        sqs_message("m-5", &payment(""), None),                   // missing key
        sqs_message("m-6", &payment("o-6"), None),
    ]}))
    .unwrap();
    let batch = Batch::new().concurrency(4);
    let response = batch.sqs(&event, |m| process_sqs(&store, &ledger, m)).await;
    assert_eq!(sqs_failures(&response), ["m-3", "m-4", "m-5"]);
    assert_eq!(
        ["o-1", "o-2", "o-4", "o-6"].map(|o| ledger.effects(o)),
        [1, 1, 0, 1]
    );
    assert!(ledger.take_replayed().is_empty());

    // SQS redelivers the whole batch (say, the response was lost); o-4 is accepted now.
    ledger.set_refused(&[]);
    let again = batch.sqs(&event, |m| process_sqs(&store, &ledger, m)).await;
    assert_eq!(
        sqs_failures(&again),
        ["m-3", "m-5"],
        "bad records stay failed"
    );
    assert_eq!(
        ["o-1", "o-2", "o-4", "o-6"].map(|o| ledger.effects(o)),
        [1, 1, 1, 1],
        "each effect once"
    );
    assert_eq!(ledger.take_replayed(), ["o-1", "o-2", "o-6"]);
}

#[tokio::test]
async fn sqs_fifo_stops_a_failed_group_and_lets_the_other_groups_go_on() {
    let Some(db) = dynamo_support::local("batch-fifo") else {
        return;
    };
    let store = db.store().await;
    let ledger = Ledger::refusing(&["a-2"]);
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_message("ma-1", &payment("a-1"), Some("a")),
        sqs_message("mb-1", &payment("b-1"), Some("b")),
        sqs_message("ma-2", &payment("a-2"), Some("a")),   // refused: a-3 must not run
        sqs_message("mb-2", &payment("b-2"), Some("b")),
        sqs_message("ma-3", &payment("a-3"), Some("a")),
        sqs_message("mc-1", "{not json", Some("c")),        // bad body: c-2 must not run
        sqs_message("mc-2", &payment("c-2"), Some("c")),
        sqs_message("mb-3", &payment("b-3"), Some("b")),
    ]}))
    .unwrap();
    assert!(idem_batch::is_fifo(&event));
    let batch = Batch::new();
    let response = batch.sqs(&event, |m| process_sqs(&store, &ledger, m)).await;
    assert_eq!(sqs_failures(&response), ["ma-2", "ma-3", "mc-1", "mc-2"]);
    assert_eq!(
        ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3", "c-2"].map(|o| ledger.effects(o)),
        [1, 0, 0, 1, 1, 1, 0],
        "nothing after a failure in its group ran"
    );

    // SQS redelivers the failed messages of group a (c stays poisoned); a-2 accepted now.
    ledger.set_refused(&[]);
    ledger.take_replayed();
    let redelivery: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_message("ma-1", &payment("a-1"), Some("a")),  // a duplicate of a done record
        sqs_message("ma-2", &payment("a-2"), Some("a")),
        sqs_message("ma-3", &payment("a-3"), Some("a")),
        sqs_message("mb-3", &payment("b-3"), Some("b")),  // a duplicate of a done record
    ]}))
    .unwrap();
    let again = batch
        .sqs(&redelivery, |m| process_sqs(&store, &ledger, m))
        .await;
    assert!(sqs_failures(&again).is_empty());
    assert_eq!(
        ["a-1", "a-2", "a-3", "b-3"].map(|o| ledger.effects(o)),
        [1, 1, 1, 1]
    );
    assert_eq!(ledger.take_replayed(), ["a-1", "b-3"]);
}

fn kinesis_record(seq: u64, partition: &str, order: &str) -> Value {
    use std::io::Write;
    let mut data = Vec::new();
    write!(data, "{}", payment(order)).unwrap();
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": partition,
            "sequenceNumber": format!("4959033827149025660855969253836157109592157598913658{seq:04}"),
            "data": base64(&data), "approximateArrivalTimestamp": 1795968000.123
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/payments"
    })
}

/// Standard base64 (no dependency for one test helper).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn process_kinesis(
    store: &dyn Store,
    ledger: &Ledger,
    record: &KinesisEventRecord,
) -> Result<(), RecordError> {
    let payment: Payment = idem_batch::parse_json(&record.kinesis.data[..])?;
    ledger.charge(store, payment).await
}

#[tokio::test]
async fn kinesis_reports_the_lowest_failed_sequence_number_alone_and_replays_from_it() {
    let records: Vec<Value> = (1..=8)
        .map(|i| {
            kinesis_record(
                i,
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("k-{i}"),
            )
        })
        .collect();
    let event: KinesisEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let seq = |i: usize| event.records[i - 1].kinesis.sequence_number.clone();
    for order in [
        StreamOrder::ByKey,
        StreamOrder::Concurrent,
        StreamOrder::InOrder,
    ] {
        // A table of its own per mode.
        let Some(db) = dynamo_support::local(&format!("batch-kinesis-{order:?}")) else {
            return;
        };
        let store = db.store().await;
        let table_ledger = Ledger::refusing(&["k-5", "k-3"]);
        let batch = Batch::new().stream_order(order);
        let response = batch
            .kinesis(&event, |r| process_kinesis(&store, &table_ledger, r))
            .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(
            failed,
            [Some(seq(3))],
            "{order:?}: k-3 is the lowest failure"
        );
        assert_eq!(
            (table_ledger.effects("k-1"), table_ledger.effects("k-2")),
            (1, 1),
            "{order:?}"
        );
        if order != StreamOrder::Concurrent {
            // k-5 follows k-3 on the same key: never run after k-3 failed.
            assert_eq!(table_ledger.effects("k-5"), 0, "{order:?}");
        }
        if order == StreamOrder::InOrder {
            assert!((3..=8).all(|i| table_ledger.effects(&format!("k-{i}")) == 0));
        }
        let ran_after_failure: Vec<String> = (4..=8)
            .map(|i| format!("k-{i}"))
            .filter(|o| table_ledger.effects(o) == 1)
            .collect();

        // Lambda delivers the shard again from k-3; everything is accepted now.
        table_ledger.set_refused(&[]);
        table_ledger.take_replayed();
        let redelivery: KinesisEvent = serde_json::from_value(json!({
            "Records": (3..=8)
                .map(|i| kinesis_record(i, if i % 2 == 0 { "even" } else { "odd" }, &format!("k-{i}")))
                .collect::<Vec<_>>()
        }))
        .unwrap();
        let again = batch
            .kinesis(&redelivery, |r| process_kinesis(&store, &table_ledger, r))
            .await;
        assert!(again.batch_item_failures.is_empty(), "{order:?}");
        assert!(
            (1..=8).all(|i| table_ledger.effects(&format!("k-{i}")) == 1),
            "{order:?}: every effect exactly once"
        );
        assert_eq!(
            table_ledger.take_replayed(),
            ran_after_failure,
            "{order:?}: what ran after the failure is replayed, not run again"
        );
    }
}

fn dynamodb_record(seq: u64, pk: &str, order: &str) -> Value {
    json!({
        "eventID": format!("ev-{seq}"), "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795968000.0,
            "Keys": {"pk": {"S": pk}, "sk": {"S": order}},
            "NewImage": {"pk": {"S": pk}, "sk": {"S": order}, "amount_cents": {"N": "100"}},
            "SequenceNumber": format!("{}", 111_000 + seq),
            "SizeBytes": 26, "StreamViewType": "NEW_IMAGE"
        }
    })
}

async fn process_dynamodb(
    store: &dyn Store,
    ledger: &Ledger,
    record: &EventRecord,
) -> Result<(), RecordError> {
    let image = serde_json::to_value(&record.change.new_image).unwrap();
    // No sort key in the image: an empty key part, which idem reports as MissingKey.
    let order = image["sk"]["S"].as_str().unwrap_or_default().to_owned();
    ledger
        .charge(
            store,
            Payment {
                order_id: order,
                amount_cents: 100,
            },
        )
        .await
}

#[tokio::test]
async fn dynamodb_streams_report_the_lowest_failed_sequence_number_and_replay_from_it() {
    let Some(db) = dynamo_support::local("batch-ddb-stream") else {
        return;
    };
    let store = db.store().await;
    let ledger = Ledger::refusing(&["d-4"]);
    let mut records: Vec<Value> = (1..=6)
        .map(|i| dynamodb_record(i, &format!("cus-{}", i % 3), &format!("d-{i}")))
        .collect();
    // Record 6 lost its sort key: its idempotency key cannot be had.
    records[5]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("sk");
    let event: DynamoDbEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let batch = Batch::new().concurrency(3);
    let response = batch
        .dynamodb(&event, |r| process_dynamodb(&store, &ledger, r))
        .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(
        failed,
        [Some("111004")],
        "d-4 (and d-6 after it) failed; 111004 alone"
    );
    assert_eq!(
        (1..=3)
            .map(|i| ledger.effects(&format!("d-{i}")))
            .collect::<Vec<_>>(),
        [1, 1, 1]
    );
    let ran_after: Vec<String> = ["d-5"]
        .into_iter()
        .filter(|o| ledger.effects(o) == 1)
        .map(str::to_owned)
        .collect();

    ledger.set_refused(&[]);
    ledger.take_replayed();
    let mut again_records: Vec<Value> = (4..=6)
        .map(|i| dynamodb_record(i, &format!("cus-{}", i % 3), &format!("d-{i}")))
        .collect();
    again_records[2]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("sk");
    let redelivery: DynamoDbEvent =
        serde_json::from_value(json!({ "Records": again_records })).unwrap();
    let again = batch
        .dynamodb(&redelivery, |r| process_dynamodb(&store, &ledger, r))
        .await;
    let failed: Vec<_> = again
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect();
    assert_eq!(
        failed,
        [Some("111006")],
        "the record without a key still fails"
    );
    assert_eq!((ledger.effects("d-4"), ledger.effects("d-5")), (1, 1));
    assert_eq!(ledger.take_replayed(), ran_after);
}
