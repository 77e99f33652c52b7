//! The layer behind a plain hyper server (no axum router): hyper's
//! `Incoming` body is mapped to a body the layer can rebuild, and a real
//! hyper client on loopback sends the same key twice.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use idem_core::MemoryStore;
use idem_http::IdempotencyLayer;
use tower::{Layer, ServiceExt};

#[tokio::test]
async fn a_plain_hyper_service_replays_a_retried_post() {
    let runs = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&runs);
    let handler = tower::service_fn(move |request: Request<axum::body::Body>| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let size = request
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len();
            let body = Full::from(format!("run {n}, {size} bytes"));
            Ok::<_, Infallible>(Response::builder().status(201).body(body).unwrap())
        }
    });
    let service = IdempotencyLayer::new(MemoryStore::new()).layer(handler);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service.clone();
            let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
                // Incoming cannot be rebuilt from bytes; axum's `Body` can,
                // and wraps it without reading it (the layer's limit holds).
                service.clone().oneshot(request.map(axum::body::Body::new))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_service),
            );
        }
    });

    let mut replies = Vec::new();
    for _ in 0..2 {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::post("/charges")
            .header("host", "127.0.0.1")
            .header("idempotency-key", "\"hyper-1\"")
            .body(Full::<bytes::Bytes>::from("{\"amount\":1}"))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let replayed = response.headers().get("idempotent-replayed").cloned();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        replies.push((status, replayed, body));
    }
    assert_eq!((replies[0].0, replies[0].1.is_none()), (201, true));
    assert_eq!(replies[0].2, "run 1, 12 bytes");
    assert_eq!(replies[1].0, 201);
    assert_eq!(replies[1].1.as_ref().unwrap(), "true");
    assert_eq!(replies[1].2, replies[0].2, "byte for byte");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
