//! Key paths on the events Lambda users get (`aws_lambda_events`): through
//! `Option` fields (`?`), into `serde_json::Value` (`[member]`, `[0]`), and
//! into JSON held in a string (`json(…)`), with a missing part reported as
//! `MissingKey` naming the whole path.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsMessage;
use idem_core::{idempotent, Error, Key, MemoryStore};
use serde::Serialize;
use serde_json::{json, Value};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

static SQS_RUNS: AtomicU32 = AtomicU32::new(0);

/// The SQS body is JSON in a string; both parts read one parse of it.
#[idempotent(key = "json(message.body)[tenant], json(message.body)[order][id]", store = &*STORE)]
async fn from_sqs(message: &SqsMessage) -> Result<u32, Error> {
    Ok(SQS_RUNS.fetch_add(1, Ordering::SeqCst))
}

fn sqs(body: Option<&str>, message_id: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.body = body.map(str::to_owned);
    m.message_id = Some(message_id.to_owned());
    m
}

#[tokio::test]
async fn an_sqs_body_is_keyed_by_members_of_its_json() {
    let body = r#"{"tenant":"t-1","order":{"id":"o-9","amount":5}}"#;
    // Another message id, the same order: a duplicate.
    assert_eq!(from_sqs(&sqs(Some(body), "m-1")).await.unwrap(), 0);
    assert_eq!(from_sqs(&sqs(Some(body), "m-2")).await.unwrap(), 0);
    // Member order in the JSON does not matter.
    let reordered = r#"{"order":{"amount":5,"id":"o-9"},"tenant":"t-1"}"#;
    assert_eq!(from_sqs(&sqs(Some(reordered), "m-3")).await.unwrap(), 0);
    assert_eq!(SQS_RUNS.load(Ordering::SeqCst), 1);

    let missing = from_sqs(&sqs(Some(r#"{"tenant":"t-1","order":{}}"#), "m-4")).await;
    match missing {
        Err(Error::MissingKey { part, .. }) => assert_eq!(part, "json(message.body)[order][id]"),
        other => panic!("{other:?}"),
    }
    let no_body = from_sqs(&sqs(None, "m-5")).await;
    assert!(
        matches!(no_body, Err(Error::MissingKey { .. })),
        "{no_body:?}"
    );
    let not_json = from_sqs(&sqs(Some("tenant=t-1"), "m-6")).await;
    match not_json {
        Err(Error::InvalidKey { reason, .. }) => {
            assert!(reason.contains("not valid JSON"), "{reason}");
            assert!(
                !reason.contains("tenant=t-1"),
                "no payload in errors: {reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(SQS_RUNS.load(Ordering::SeqCst), 1);
}

/// EventBridge's `detail` is a `Value`; `account` an `Option<String>`.
#[idempotent(key = "event.detail[order_id], event.account?", store = &*STORE)]
async fn from_eventbridge(event: &EventBridgeEvent<Value>) -> Result<String, Error> {
    Ok(format!("handled {}", event.detail["order_id"]))
}

#[tokio::test]
async fn eventbridge_detail_is_keyed_at_run_time_and_none_is_missing() {
    let mut event: EventBridgeEvent<Value> = EventBridgeEvent::default();
    event.detail = json!({"order_id": "o-1", "items": [{"sku": "a"}]});
    event.account = Some("123456789012".into());
    assert_eq!(from_eventbridge(&event).await.unwrap(), "handled \"o-1\"");
    event.account = None;
    match from_eventbridge(&event).await {
        Err(Error::MissingKey { part, .. }) => assert_eq!(part, "event.account?"),
        other => panic!("{other:?}"),
    }
    event.account = Some("123456789012".into());
    event.detail = json!({"other": 1});
    match from_eventbridge(&event).await {
        Err(Error::MissingKey { part, .. }) => assert_eq!(part, "event.detail[order_id]"),
        other => panic!("{other:?}"),
    }
}

/// API Gateway: the request id (an `Option`) and a member of the JSON body.
/// (Headers are an `http::HeaderMap`, which idem-core does not know: key on
/// them through idem-http's layer.)
#[idempotent(key = "request.request_context.request_id?, json(request.body)[amount]", store = &*STORE)]
async fn from_api(request: &ApiGatewayV2httpRequest) -> Result<u64, Error> {
    Ok(7)
}

#[tokio::test]
async fn an_api_gateway_header_and_body_member_key_a_request() {
    let mut request = ApiGatewayV2httpRequest::default();
    request.body = Some(r#"{"amount":1250}"#.into());
    request.request_context.request_id = Some("r-123".into());
    assert_eq!(from_api(&request).await.unwrap(), 7);
    request.request_context.request_id = None;
    match from_api(&request).await {
        Err(Error::MissingKey { part, .. }) => {
            assert_eq!(part, "request.request_context.request_id?")
        }
        other => panic!("{other:?}"),
    }
    request.request_context.request_id = Some("r-124".into());
    request.body = Some(r#"{"currency":"EUR"}"#.into());
    match from_api(&request).await {
        Err(Error::MissingKey { part, .. }) => assert_eq!(part, "json(request.body)[amount]"),
        other => panic!("{other:?}"),
    }
}

#[derive(Serialize)]
struct Order {
    customer: Option<Customer>,
    lines: Vec<Line>,
    extra: HashMap<String, Value>,
}

#[derive(Serialize)]
struct Customer {
    id: String,
}

#[derive(Serialize)]
struct Line {
    sku: String,
}

#[idempotent(
    key = "order.customer?.id, order.lines[0].sku",
    validate = "order.extra[channel]",
    on_missing_key = "run",
    store = &*STORE
)]
async fn typed_with_steps(order: &Order) -> Result<String, Error> {
    Ok("ok".into())
}

#[tokio::test]
async fn typed_steps_through_options_and_sequences_and_on_missing_key_run() {
    let order = Order {
        customer: Some(Customer { id: "c-1".into() }),
        lines: vec![Line { sku: "s-1".into() }],
        extra: HashMap::from([("channel".into(), json!("web"))]),
    };
    assert_eq!(typed_with_steps(&order).await.unwrap(), "ok");
    // The same key as the builder with the plain values: `?` and `[0]` hash
    // the value they reach.
    let key = Key::builder("macro_paths::typed_with_steps")
        .part("order.customer?.id", "c-1")
        .part("order.lines[0].sku", "s-1")
        .finish()
        .unwrap();
    use idem_core::{Clock, Store, SystemClock};
    assert!(STORE
        .get(key.storage_key(), SystemClock.now_ms())
        .await
        .unwrap()
        .is_some());
    // No customer: run without idempotency, as asked.
    let anonymous = Order {
        customer: None,
        lines: vec![],
        extra: HashMap::new(),
    };
    assert_eq!(typed_with_steps(&anonymous).await.unwrap(), "ok");
}
