//! The key is never blocked for the whole lease by a request that did not
//! finish: a handler error, a panic, or a caller that left (the future
//! dropped: a client disconnect, a timeout).
//! idem-core's engine releases the claim on a panic and hands the release
//! of a dropped call to the runtime; these tests check it through the layer.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use idem_core::MemoryStore;
use idem_http::IdempotencyLayer;
use tokio::sync::Notify;
use tower::{service_fn, Layer, ServiceExt};

/// What the handler does on its first run.
#[derive(Clone, Copy)]
enum First {
    Panic,
    Hang,
    Fail,
}

type Req = Request<Full<Bytes>>;

fn post() -> Req {
    Request::post("/orders")
        .header("idempotency-key", "\"k-1\"")
        .body(Full::from("{}"))
        .unwrap()
}

/// A layered handler that misbehaves on its first run, then answers 201.
fn service(
    layer: IdempotencyLayer,
    first: First,
    started: Arc<Notify>,
    runs: Arc<AtomicU64>,
) -> impl tower::Service<
    Req,
    Response = Response<idem_http::ResponseBody<Full<Bytes>>>,
    Error = &'static str,
    Future: Send,
> + Clone
       + Send
       + 'static {
    layer.layer(service_fn(move |_: Req| {
        let (started, runs) = (Arc::clone(&started), Arc::clone(&runs));
        async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            started.notify_one();
            if n == 1 {
                match first {
                    First::Panic => panic!("the handler panicked"),
                    First::Hang => std::future::pending::<()>().await,
                    First::Fail => return Err("the handler failed"),
                }
            }
            Ok(Response::builder()
                .status(201)
                .body(Full::from("created"))
                .unwrap())
        }
    }))
}

async fn retry_after_first(first: First, layer: IdempotencyLayer, wait: Duration) -> (u16, u64) {
    let (started, runs) = (Arc::new(Notify::new()), Arc::new(AtomicU64::new(0)));
    let svc = service(layer, first, Arc::clone(&started), Arc::clone(&runs));
    let call = tokio::spawn(svc.clone().oneshot(post()));
    started.notified().await;
    match first {
        First::Hang => call.abort(),
        First::Panic => assert!(call.await.unwrap_err().is_panic()),
        First::Fail => assert_eq!(call.await.unwrap().unwrap_err(), "the handler failed"),
    }
    // Whatever frees the key may be handed to the runtime: give it a moment.
    tokio::time::sleep(wait).await;
    let retry = svc.oneshot(post()).await.unwrap();
    (retry.status().as_u16(), runs.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_handler_error_releases_the_key_so_the_retry_runs() {
    let layer = IdempotencyLayer::new(MemoryStore::new());
    let (status, runs) = retry_after_first(First::Fail, layer, Duration::ZERO).await;
    assert_eq!((status, runs), (201, 2));
}

#[tokio::test]
async fn a_handler_panic_releases_the_key_so_the_retry_runs() {
    let layer = IdempotencyLayer::new(MemoryStore::new());
    let (status, runs) = retry_after_first(First::Panic, layer, Duration::from_millis(50)).await;
    assert_eq!(
        (status, runs),
        (201, 2),
        "not 409: the panicked request holds no claim"
    );
}

#[tokio::test]
async fn a_caller_that_leaves_mid_handler_releases_the_key_so_the_retry_runs() {
    let layer = IdempotencyLayer::new(MemoryStore::new());
    let (status, runs) = retry_after_first(First::Hang, layer, Duration::from_millis(50)).await;
    assert_eq!(
        (status, runs),
        (201, 2),
        "not 409: the dropped request holds no claim"
    );
}

#[tokio::test]
async fn a_response_body_that_fails_answers_500_and_releases_the_key() {
    use http_body_util::combinators::UnsyncBoxBody;
    use http_body_util::BodyExt;

    let runs = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&runs);
    let svc = IdempotencyLayer::new(MemoryStore::new()).layer(service_fn(move |_: Req| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let body: UnsyncBoxBody<Bytes, idem_http::BoxError> = if n == 1 {
                Failing.boxed_unsync()
            } else {
                Full::from("created").map_err(|e| match e {}).boxed_unsync()
            };
            Ok::<_, Infallible>(Response::builder().status(201).body(body).unwrap())
        }
    }));
    let first = svc.clone().oneshot(post()).await.unwrap();
    assert_eq!(first.status(), 500);
    let retry = svc.oneshot(post()).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// A body that fails at once.
struct Failing;

impl http_body::Body for Failing {
    type Data = Bytes;
    type Error = idem_http::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err("the body broke".into())))
    }
}
