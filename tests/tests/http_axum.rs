//! The idempotency layer in a real axum server on a loopback port, driven by
//! a real HTTP client: every scenario of the Idempotency-Key draft, on
//! MemoryStore and on DynamoDB Local.
#![allow(clippy::unwrap_used)]

mod dynamo_support;
mod http_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use http_support::{call, request, send, serve};
use idem_core::{MemoryStore, Store};
use idem_http::IdempotencyLayer;

const ORDER: &str = r#"{"sku":"book-1","qty":2}"#;

/// Runs `scenario` on a MemoryStore, then on DynamoDB Local (which fails
/// under `CI` when unreachable, and is announced as not run elsewhere).
async fn on_each_store<F, Fut>(test: &str, scenario: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scenario(Arc::new(MemoryStore::new())).await;
    if let Some(local) = dynamo_support::local(test) {
        scenario(Arc::new(local.store().await)).await;
    }
}

#[tokio::test]
async fn the_first_request_runs_and_a_retry_replays_it_byte_for_byte_with_the_marker() {
    on_each_store("http_replay", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        let first = call(server.addr, "POST", "/orders", Some("\"k-1\""), ORDER).await;
        assert_eq!(first.status, 201, "{}", first.text());
        assert_eq!(first.header("idempotent-replayed"), None);
        assert_eq!(
            first.header("set-cookie"),
            Some("session=s1"),
            "the first caller gets every header"
        );
        let again = call(server.addr, "POST", "/orders", Some("\"k-1\""), ORDER).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.body, first.body, "byte for byte");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.header("content-type"), Some("application/json"));
        assert_eq!(again.header("x-run"), Some("1"), "the first run's headers");
        assert_eq!(
            again.header("set-cookie"),
            None,
            "per-response headers are not replayed"
        );
        assert_eq!(
            again.header("content-length"),
            Some(first.body.len().to_string().as_str())
        );
        assert_eq!(server.runs.get(), 1);
        // A bare (unquoted) key is the same key.
        let bare = call(server.addr, "POST", "/orders", Some("k-1"), ORDER).await;
        assert_eq!((bare.status, bare.body.clone()), (201, first.body.clone()));
        assert_eq!(server.runs.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_concurrent_duplicate_gets_409_with_retry_after_then_the_saved_response() {
    on_each_store("http_409", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        let addr = server.addr;
        let (first, second) =
            tokio::join!(call(addr, "POST", "/slow", Some("k-2"), ORDER), async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                call(addr, "POST", "/slow", Some("k-2"), ORDER).await
            });
        assert_eq!(first.status, 201);
        assert_eq!(second.status, 409, "{}", second.text());
        assert_eq!(second.header("retry-after"), Some("1"));
        assert_eq!(
            second.header("content-type"),
            Some("application/problem+json")
        );
        assert!(second.text().contains("#in-progress"), "{}", second.text());
        let later = call(addr, "POST", "/slow", Some("k-2"), ORDER).await;
        assert_eq!((later.status, later.body), (201, first.body));
        assert_eq!(server.runs.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_first_response_when_asked() {
    let layer = IdempotencyLayer::new(MemoryStore::new())
        .in_progress(idem_core::InProgress::Wait(Some(Duration::from_secs(5))));
    let server = serve(layer).await;
    let addr = server.addr;
    let (first, second) = tokio::join!(call(addr, "POST", "/slow", Some("k-w"), ORDER), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        call(addr, "POST", "/slow", Some("k-w"), ORDER).await
    });
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(server.runs.get(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_or_path_gets_422() {
    on_each_store("http_422", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        assert_eq!(
            call(server.addr, "POST", "/orders", Some("k-3"), ORDER)
                .await
                .status,
            201
        );
        let other_body = call(
            server.addr,
            "POST",
            "/orders",
            Some("k-3"),
            r#"{"sku":"book-1","qty":3}"#,
        )
        .await;
        assert_eq!(other_body.status, 422, "{}", other_body.text());
        assert_eq!(
            other_body.header("content-type"),
            Some("application/problem+json")
        );
        assert!(other_body.text().contains("#payload-mismatch"));
        let other_path = call(server.addr, "POST", "/other", Some("k-3"), ORDER).await;
        assert_eq!(other_path.status, 422);
        let other_method = call(server.addr, "PATCH", "/orders", Some("k-3"), ORDER).await;
        assert_eq!(other_method.status, 422);
        assert_eq!(server.runs.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn empty_oversized_and_missing_keys_get_400_problems() {
    on_each_store("http_400", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store).require_key(true)).await;
        let long = format!("\"{}\"", "k".repeat(256));
        for key in [
            Some("\"\""),
            Some(long.as_str()),
            Some("\"unterminated"),
            None,
        ] {
            let reply = call(server.addr, "POST", "/orders", key, ORDER).await;
            assert_eq!(reply.status, 400, "{key:?}: {}", reply.text());
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
            let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(problem["status"], 400);
            assert!(problem["type"]
                .as_str()
                .unwrap()
                .starts_with(idem_http::problem::TYPE_BASE));
        }
        let max = format!("\"{}\"", "k".repeat(255));
        assert_eq!(
            call(server.addr, "POST", "/orders", Some(&max), ORDER)
                .await
                .status,
            201
        );
        assert_eq!(server.runs.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_missing_key_passes_through_unguarded_unless_required() {
    let server = serve(IdempotencyLayer::new(MemoryStore::new())).await;
    for _ in 0..2 {
        let reply = call(server.addr, "POST", "/orders", None, ORDER).await;
        assert_eq!(reply.status, 201);
        assert_eq!(reply.header("idempotent-replayed"), None);
    }
    assert_eq!(server.runs.get(), 2);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    on_each_store("http_413", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store).max_request_bytes(1024)).await;
        let big = "x".repeat(1025);
        let reply = call(server.addr, "POST", "/orders", Some("k-4"), &big).await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        assert!(reply.text().contains("#body-too-large"));
        // Without a content-length (chunked), the limit holds while reading.
        let chunks = chunked::Chunks([Bytes::from(big.clone())].into());
        let request = request("POST", "/orders", Some("k-4"), "")
            .body(chunks)
            .unwrap();
        let chunked = send_streaming(server.addr, request).await;
        assert_eq!(chunked, 413);
        assert_eq!(server.runs.get(), 0);
        let fits = "x".repeat(1024);
        assert_eq!(
            call(server.addr, "POST", "/orders", Some("k-4"), &fits)
                .await
                .status,
            201
        );
    })
    .await;
}

#[tokio::test]
async fn methods_not_guarded_pass_through_every_time() {
    on_each_store("http_pass_through", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        for method in ["GET", "PUT", "GET", "PUT"] {
            let reply = call(server.addr, method, "/orders", Some("k-5"), ORDER).await;
            assert_eq!(reply.status, 201);
            assert_eq!(reply.header("idempotent-replayed"), None);
        }
        assert_eq!(server.runs.get(), 4);
        // PATCH is guarded by default.
        call(server.addr, "PATCH", "/orders", Some("k-6"), ORDER).await;
        let again = call(server.addr, "PATCH", "/orders", Some("k-6"), ORDER).await;
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(server.runs.get(), 5);
    })
    .await;
}

#[tokio::test]
async fn two_principals_with_the_same_key_get_separate_records() {
    on_each_store("http_principals", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        let as_caller = |auth: &'static str| {
            let addr = server.addr;
            async move {
                let request = request("POST", "/orders", Some("shared-key"), ORDER)
                    .header("authorization", auth)
                    .body(Full::from(ORDER))
                    .unwrap();
                send(addr, request).await
            }
        };
        let alice = as_caller("Bearer alice").await;
        let bob = as_caller("Bearer bob").await;
        assert_eq!((alice.status, bob.status), (201, 201));
        assert_eq!(bob.header("idempotent-replayed"), None, "bob's request ran");
        assert!(alice.text().contains("Bearer alice") && bob.text().contains("Bearer bob"));
        assert_eq!(server.runs.get(), 2);
        let alice_again = as_caller("Bearer alice").await;
        let bob_again = as_caller("Bearer bob").await;
        assert_eq!(alice_again.body, alice.body, "each replays their own");
        assert_eq!(bob_again.body, bob.body);
        assert_eq!(server.runs.get(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_5xx_is_not_saved_so_the_retry_runs_again() {
    on_each_store("http_5xx", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store)).await;
        let first = call(server.addr, "POST", "/flaky", Some("k-7"), ORDER).await;
        assert_eq!(first.status, 503);
        let retry = call(server.addr, "POST", "/flaky", Some("k-7"), ORDER).await;
        assert_eq!((retry.status, retry.text()), (201, "created on run 2"));
        let replay = call(server.addr, "POST", "/flaky", Some("k-7"), ORDER).await;
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(server.runs.get(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_response_over_the_limit_streams_through_and_replays_as_409_unavailable() {
    on_each_store("http_big_response", |store| async move {
        let server = serve(IdempotencyLayer::from_arc(store).max_response_bytes(16 * 1024)).await;
        let first = call(server.addr, "POST", "/big", Some("k-8"), ORDER).await;
        assert_eq!(
            (first.status, first.body.len()),
            (201, 64 * 1024),
            "the whole body"
        );
        let again = call(server.addr, "POST", "/big", Some("k-8"), ORDER).await;
        assert_eq!(again.status, 409, "{}", again.text());
        assert!(again.text().contains("#replay-unavailable"));
        assert_eq!(again.header("retry-after"), None);
        assert_eq!(server.runs.get(), 1, "the handler never runs twice");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_keys_times_eight_concurrent_requests_run_the_handler_two_hundred_times() {
    let layer = IdempotencyLayer::new(MemoryStore::new())
        .in_progress(idem_core::InProgress::Wait(Some(Duration::from_secs(30))));
    let server = serve(layer).await;
    let addr = server.addr;
    // 25 keys at a time (200 connections in flight), each sent 8 times at once.
    for batch in 0..8 {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..25 {
            let key = format!("key-{}", batch * 25 + k);
            for _ in 0..8 {
                let key = key.clone();
                tasks.spawn(async move {
                    let reply = call(addr, "POST", "/orders", Some(&key), ORDER).await;
                    (key, reply)
                });
            }
        }
        let mut bodies = std::collections::HashMap::<String, Vec<Bytes>>::new();
        while let Some(done) = tasks.join_next().await {
            let (key, reply) = done.unwrap();
            assert_eq!(reply.status, 201, "{}", reply.text());
            bodies.entry(key).or_default().push(reply.body);
        }
        for (key, replies) in bodies {
            assert_eq!(replies.len(), 8);
            assert!(
                replies.iter().all(|b| *b == replies[0]),
                "{key}: one response for all 8"
            );
        }
    }
    assert_eq!(server.runs.get(), 200);
}

async fn send_streaming(
    addr: std::net::SocketAddr,
    request: http::Request<chunked::Chunks>,
) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

mod chunked {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::Frame;

    /// A request body sent in chunks, without a content-length.
    pub(crate) struct Chunks(pub(crate) VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }
}
