//! idem's `idem_calls_total{outcome}` counter reaches CloudWatch as Embedded
//! Metric Format lines (the recorder the SQS binary installs), with the
//! `executed` and `replayed` counts of a batch and its redelivery.
#![allow(clippy::unwrap_used)]

use aws_lambda_events::event::sqs::SqsEvent;
use idem_core::MemoryStore;
use idem_examples::payments::Provider;
use idem_examples::sqs::SqsHandler;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

fn emf_counts(lines: &str, outcome: &str) -> u64 {
    lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|doc| doc["outcome"] == outcome && doc["namespace"] == "examples::sqs::charge")
        .map(|doc| {
            let declared = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(declared["Namespace"], "idem-test");
            assert_eq!(
                declared["Dimensions"][0],
                serde_json::json!(["namespace", "outcome"])
            );
            assert_eq!(declared["Metrics"][0]["Name"], "idem_calls_total");
            doc["idem_calls_total"].as_u64().unwrap()
        })
        .sum()
}

#[tokio::test]
async fn the_emf_lines_carry_the_executed_and_replayed_counts() {
    let collector = idem_examples::metrics::install("idem-test").unwrap();
    let handler = SqsHandler::new(MemoryStore::new(), Provider::default()).with_concurrency(1);
    let path = format!("{}/fixtures/sqs_batch.json", env!("CARGO_MANIFEST_DIR"));
    let batch: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut context = Context::default();
    context.deadline = u64::MAX / 2;

    // ord-1001, ord-1002, ord-1001 again, and a malformed message (never reaches idem).
    handler
        .handle(LambdaEvent::new(batch.clone(), context.clone()))
        .await
        .unwrap();
    let mut first = Vec::new();
    collector.flush(&mut first).unwrap();
    let first = String::from_utf8(first).unwrap();
    assert_eq!(emf_counts(&first, "executed"), 2, "{first}");
    assert_eq!(emf_counts(&first, "replayed"), 1, "{first}");
    assert!(
        !first.contains("cus-1") && !first.contains("ord-1001"),
        "no payload in metrics"
    );

    handler
        .handle(LambdaEvent::new(batch, context))
        .await
        .unwrap();
    let mut again = Vec::new();
    collector.flush(&mut again).unwrap();
    let again = String::from_utf8(again).unwrap();
    assert_eq!(
        emf_counts(&again, "executed"),
        0,
        "counters are deltas since the last flush"
    );
    assert_eq!(emf_counts(&again, "replayed"), 3, "{again}");
}
