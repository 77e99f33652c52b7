//! The handlers and middlewares the bench routes to: the bare handler, the
//! references (reading the body, buffering it, the least idempotency
//! middleware) and what the peer needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use ruts::store::moka::MokaStore;
use ruts::Session;

pub(crate) const BODY: &str = r#"{"id":"ord_0001","status":"created","amount_cents":4999,"currency":"eur","customer":"cus_42","items":[{"sku":"book-1","qty":2}]}"#;
pub(crate) const REQUEST: &str = r#"{"sku":"book-1","qty":2,"customer":"cus_42"}"#;

pub(crate) static RUNS: AtomicU64 = AtomicU64::new(0);

pub(crate) async fn handler() -> (
    http::StatusCode,
    [(&'static str, &'static str); 1],
    &'static str,
) {
    RUNS.fetch_add(1, Ordering::Relaxed);
    (
        http::StatusCode::CREATED,
        [("content-type", "application/json")],
        BODY,
    )
}

/// The same handler, reading its request body first, as a real one does.
pub(crate) async fn reading_handler(
    body: Bytes,
) -> (
    http::StatusCode,
    [(&'static str, &'static str); 1],
    &'static str,
) {
    assert_eq!(body.len(), REQUEST.len());
    handler().await
}

/// A middleware that does the structural part of any layer that
/// fingerprints bodies (buffer the body, rebuild the request, call the
/// handler) and nothing else: the floor under such a layer.
pub(crate) async fn buffering(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// The least any in-memory idempotency layer does, and nothing more: hash
/// the key, method, path and body; look the digest up; replay a clone of the
/// saved response, or run the handler and save its buffered response. No
/// in-progress lock, no lease, no expiry, no caller scope, no stored form
/// (so nothing a shared store could hold), no error handling: a lower bound
/// under idem-http, not an alternative to it (two concurrent duplicates
/// both run the handler).
pub(crate) async fn least(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Saved = (http::StatusCode, http::HeaderMap, Bytes);
    static SAVED: std::sync::LazyLock<Mutex<HashMap<[u8; 32], Saved>>> =
        std::sync::LazyLock::new(Default::default);
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut hasher = blake3::Hasher::new();
    hasher.update(parts.headers["idempotency-key"].as_bytes());
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(&bytes);
    let digest: [u8; 32] = hasher.finalize().into();
    let hit = SAVED.lock().unwrap().get(&digest).cloned();
    if let Some((status, mut headers, body)) = hit {
        headers.insert(
            "idempotent-replayed",
            http::HeaderValue::from_static("true"),
        );
        let mut response = axum::response::Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        return response;
    }
    let response = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    let (head, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    SAVED
        .lock()
        .unwrap()
        .insert(digest, (head.status, head.headers.clone(), body.clone()));
    axum::response::Response::from_parts(head, axum::body::Body::from(body))
}

pub(crate) async fn slow_handler() -> (http::StatusCode, &'static str) {
    RUNS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    (http::StatusCode::CREATED, BODY)
}

pub(crate) async fn login(session: Session<MokaStore>) -> &'static str {
    session
        .set("user", &"u-1", ruts::store::Ttl::new(3600).unwrap(), None)
        .await
        .unwrap();
    "ok"
}
