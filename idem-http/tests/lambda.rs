//! The same layer inside a `lambda_http` function, driven with API Gateway
//! REST (v1), HTTP API (v2) and ALB request events parsed by `lambda_http`
//! itself, and answered through its `IntoResponse` conversion.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use idem_core::MemoryStore;
use idem_http::IdempotencyLayer;
use lambda_http::{Body, IntoResponse, Request, Response};
use tower::{Layer, ServiceExt};

fn event(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The handler of the function, as `lambda_http::run` takes it.
fn function(
    runs: Arc<AtomicU64>,
) -> impl tower::Service<Request, Response = Response<Body>, Error = lambda_http::Error, Future: Send>
       + Clone
       + Send
       + 'static {
    lambda_http::service_fn(move |request: Request| {
        let runs = Arc::clone(&runs);
        async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let size = request.body().len();
            Ok::<_, lambda_http::Error>(
                Response::builder()
                    .status(201)
                    .header("content-type", "application/json")
                    .body(Body::from(format!(
                        "{{\"order\":\"ord-{n}\",\"bytes\":{size}}}"
                    )))
                    .unwrap(),
            )
        }
    })
}

/// Compiles only if the layered function is what `lambda_http::run` runs.
#[allow(dead_code)]
async fn runs_under_lambda_http() -> Result<(), lambda_http::Error> {
    let service = IdempotencyLayer::new(MemoryStore::new()).layer(function(Arc::default()));
    lambda_http::run(service).await
}

async fn invoke<S>(service: &S, event: &str) -> (u16, Option<String>, Body)
where
    S: tower::Service<Request, Error = lambda_http::Error> + Clone,
    S::Response: IntoResponse,
{
    let request = lambda_http::request::from_str(event).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let response = response.into_response().await;
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), replayed, response.into_body())
}

async fn replays(fixture: &str) {
    let runs = Arc::new(AtomicU64::new(0));
    let service = IdempotencyLayer::new(MemoryStore::new()).layer(function(Arc::clone(&runs)));
    let event = event(fixture);
    let (status, replayed, first) = invoke(&service, &event).await;
    assert_eq!((status, replayed), (201, None), "{fixture}");
    assert_eq!(
        first,
        Body::Text("{\"order\":\"ord-1\",\"bytes\":24}".into()),
        "{fixture}"
    );
    let (status, replayed, again) = invoke(&service, &event).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("true")),
        "{fixture}"
    );
    assert_eq!(again, first, "{fixture}: the saved response");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{fixture}");

    // Another caller with the same key has a record of its own.
    let bob = event.replace("Bearer alice", "Bearer bob");
    let (status, replayed, theirs) = invoke(&service, &bob).await;
    assert_eq!((status, replayed), (201, None), "{fixture}");
    assert_ne!(theirs, first);
    // The same key with another body is refused.
    let other = event.replace("\\\"qty\\\":2", "\\\"qty\\\":3").replace(
        "eyJza3UiOiJib29rLTEiLCJxdHkiOjJ9",
        "eyJza3UiOiJib29rLTEiLCJxdHkiOjN9",
    );
    assert_ne!(other, event, "{fixture}: the body changed");
    let (status, _, problem) = invoke(&service, &other).await;
    assert_eq!(status, 422, "{fixture}: {problem:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "{fixture}");
}

#[tokio::test]
async fn an_api_gateway_rest_v1_event_is_replayed() {
    replays("apigw_v1_post_order.json").await;
}

#[tokio::test]
async fn an_api_gateway_http_v2_event_with_a_base64_body_is_replayed() {
    replays("apigw_v2_post_order.json").await;
}

#[tokio::test]
async fn an_alb_event_is_replayed() {
    replays("alb_post_order.json").await;
}
