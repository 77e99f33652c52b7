//! Shared by the `http_*` tests: a real axum server on a loopback port with
//! the idempotency layer, and a real HTTP/1.1 client (hyper), one connection
//! per request.

#![allow(dead_code, unreachable_pub)] // each test file uses a part of it

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use idem_http::IdempotencyLayer;

/// How many times the handlers ran.
#[derive(Debug, Default, Clone)]
pub struct Runs(Arc<AtomicU64>);

impl Runs {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// `POST|PATCH|PUT|GET /orders`: 201 with a body naming the run, a
/// `set-cookie` and an `x-run` header. `POST /slow`: the same after 300 ms.
/// `POST /flaky`: 503 on its first run, 201 after. `POST /big`: 201 with a
/// body of 64 KiB.
async fn orders(
    State(runs): State<Runs>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let n = runs.next();
    let principal = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("anonymous")
        .to_owned();
    let body = format!(
        "{{\"order\":\"ord-{n}\",\"for\":\"{principal}\",\"echo_bytes\":{}}}",
        body.len()
    );
    axum::response::Response::builder()
        .status(StatusCode::CREATED)
        .header("content-type", "application/json")
        .header("x-run", n.to_string())
        .header("set-cookie", format!("session=s{n}"))
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

async fn slow(state: State<Runs>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    tokio::time::sleep(Duration::from_millis(300)).await;
    orders(state, headers, body).await
}

async fn flaky(State(runs): State<Runs>) -> (StatusCode, String) {
    match runs.next() {
        1 => (StatusCode::SERVICE_UNAVAILABLE, "try again".into()),
        n => (StatusCode::CREATED, format!("created on run {n}")),
    }
}

async fn big(State(runs): State<Runs>) -> (StatusCode, Vec<u8>) {
    runs.next();
    (StatusCode::CREATED, vec![b'x'; 64 * 1024])
}

/// A server on 127.0.0.1:0 with `layer` around every route.
pub struct Server {
    pub addr: SocketAddr,
    pub runs: Runs,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The test app's routes, with `layer`.
pub fn app(layer: IdempotencyLayer, runs: Runs) -> Router {
    Router::new()
        .route(
            "/orders",
            post(orders).patch(orders).put(orders).get(orders),
        )
        .route("/other", post(orders))
        .route("/slow", post(slow))
        .route("/flaky", post(flaky))
        .route("/big", post(big))
        .layer(layer)
        .with_state(runs)
}

pub async fn serve(layer: IdempotencyLayer) -> Server {
    let runs = Runs::default();
    let app = app(layer, runs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server runs");
    });
    Server { addr, runs, task }
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<binary>")
    }
}

/// A request to send.
pub fn request(method: &str, path: &str, key: Option<&str>, body: &str) -> http::request::Builder {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    let _ = body;
    builder
}

/// Sends `request` on a new connection to `addr`.
pub async fn send(addr: SocketAddr, request: http::Request<Full<Bytes>>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("a response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the response body").to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// `method path` with `key` and `body`, on a new connection.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Reply {
    let request = request(method, path, key, body)
        .body(Full::from(body.to_owned()))
        .expect("a valid request");
    send(addr, request).await
}
