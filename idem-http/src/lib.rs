//! # idem-http
//!
//! A [`tower`](https://docs.rs/tower) layer for the `Idempotency-Key` header
//! (IETF [draft-ietf-httpapi-idempotency-key-header-07], October 2025), on
//! idem's engine and any [`idem_core::Store`]. The same layer serves axum,
//! plain hyper services and `lambda_http`.
//!
//! [draft-ietf-httpapi-idempotency-key-header-07]: https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-idempotency-key-header-07
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use idem_core::MemoryStore;
//! use idem_http::IdempotencyLayer;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let charges = Arc::new(AtomicU32::new(0));
//! let counter = Arc::clone(&charges);
//! let handler = service_fn(move |_: Request<Full<bytes::Bytes>>| {
//!     let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
//!     async move {
//!         let body = Full::from(format!("{{\"charge\":\"ch_{n}\"}}"));
//!         Ok::<_, std::convert::Infallible>(Response::builder().status(201).body(body).unwrap())
//!     }
//! });
//! let service = IdempotencyLayer::new(MemoryStore::new()).layer(handler);
//!
//! let post = || {
//!     Request::post("/charges")
//!         .header("idempotency-key", "\"8e03978e-40d5\"")
//!         .body(Full::from("{\"amount\":4999}"))
//!         .unwrap()
//! };
//! let first = service.clone().oneshot(post()).await.unwrap();
//! assert_eq!(first.status(), StatusCode::CREATED);
//! assert!(first.headers().get("idempotent-replayed").is_none());
//! let first = first.into_body().collect().await.unwrap().to_bytes();
//!
//! let retry = service.clone().oneshot(post()).await.unwrap();
//! assert_eq!(retry.status(), StatusCode::CREATED);
//! assert_eq!(retry.headers()["idempotent-replayed"], "true");
//! assert_eq!(retry.into_body().collect().await.unwrap().to_bytes(), first);
//! assert_eq!(charges.load(Ordering::SeqCst), 1); // the handler ran once
//! # }
//! ```
//!
//! ## What a request gets
//!
//! | request | response |
//! |---|---|
//! | a method not guarded (default: all but `POST` and `PATCH`) | the handler's, untouched |
//! | no key header | the handler's, unguarded; or 400 with [`require_key`](IdempotencyLayer::require_key) |
//! | an empty, malformed, repeated or oversized key (default 255 bytes) | 400 |
//! | a body over [`max_request_bytes`](IdempotencyLayer::max_request_bytes) (default 1 MiB) | 413 |
//! | first with a key | the handler's response; saved if its status is saved (below) |
//! | the same key again (same caller, same request) | the saved response, byte for byte, plus `Idempotent-Replayed: true` |
//! | the same key while the first still runs | 409 with `Retry-After`, or the first's response with [`InProgress::Wait`](idem_core::InProgress) |
//! | the same key with another method, path or body | 422 |
//! | a key whose response was too large to save | 409 (`replay-unavailable`) |
//! | the store fails | 503 with `Retry-After` |
//!
//! Errors of the layer are `application/problem+json` (RFC 9457), listed in
//! [`problem`].
//!
//! ## Choices where the draft is silent
//!
//! - **Key syntax.** The draft makes the key an sf-string (`"…"`); a bare
//!   run of visible ASCII is accepted too, as most clients send one.
//! - **Scope.** Keys belong to the caller ([`Scope`]): by default the
//!   [`Principal`] request extension, else the `Authorization` header, else
//!   one anonymous key space. Two callers with one key never share a record.
//! - **Fingerprint.** Method, path and body bytes ([`RequestFingerprint`]).
//! - **What is saved.** Statuses below 500 except 408, 425 and 429
//!   ([`default_save_policy`]). A response that is not saved releases the
//!   key, so the client's retry runs the handler again.
//! - **Replayed headers.** All but hop-by-hop and per-response ones
//!   ([`NOT_SAVED`]: `date`, `content-length`, `set-cookie`, …). The first
//!   caller gets the handler's response with all its headers.
//! - **Bodies.** Request bodies are buffered (the fingerprint needs them);
//!   response bodies are buffered up to
//!   [`max_response_bytes`](IdempotencyLayer::max_response_bytes). A larger
//!   (or streaming) response streams through to its caller unsaved; the
//!   record completes without data, so the handler never runs again for that
//!   key, and replays get 409 `replay-unavailable` — idem's
//!   `ReplayUnavailable` policy, as for a response too large for the store.
//!   Trailers are not saved.
//! - **Stored form.** A saved response is one JSON array in the record's
//!   data (DynamoDB: the `data` attribute, a string), readable as it is:
//!   `["idem-http/1 201 swapped","content-type: application/json","{'id':'ord_0001'}"]`.
//!   The version and status come first, then one `name: value` string per
//!   header (`name:: base64` for a value that is not UTF-8), then the body as
//!   one string: UTF-8 text as it is, or with its `"` and `'` swapped when it
//!   has more `"` (a JSON body: the first element then ends in ` swapped`, and
//!   the string needs no escapes, which keeps replays fast), other bytes as
//!   base64 (` base64`). Data of another version or shape replays as a 500,
//!   never as another response.
//! - **Handler errors.** A handler's `Err` (the service error) releases the
//!   key and reaches the caller unchanged. A panicking handler and a dropped
//!   response future (the client left, a timeout) release it too (idem-core's
//!   engine), so a retry runs again rather than meeting 409 for a lease.
//! - **Default ttl** is 24 hours; records are namespaced `idem_http` unless
//!   [`namespace`](IdempotencyLayer::namespace) says otherwise.
//!
//! Nothing the layer logs or answers contains the key, a payload or a saved
//! response: records are stored under a digest of the caller and key.
//!
//! ## Request and response bodies
//!
//! The handler's request body type must be rebuildable from bytes
//! (`From<Vec<u8>>`): axum's `Body`, `lambda_http::Body` and
//! `http_body_util::Full<Bytes>` are. Behind plain hyper, map
//! `hyper::body::Incoming` to such a body first, without reading it:
//! `request.map(axum::body::Body::new)` (`tests/hyper.rs` does). The response body is
//! [`ResponseBody`] over the handler's (`Data = Bytes`).

mod body;
mod config;
mod fingerprint;
mod future;
mod key;
mod layer;
pub mod problem;
mod response;
mod scope;
mod service;
mod wire;

pub use body::{BoxError, ResponseBody};
pub use config::{
    default_save_policy, DEFAULT_MAX_KEY_LEN, DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TTL, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED,
};
pub use fingerprint::RequestFingerprint;
pub use future::ResponseFuture;
pub use layer::IdempotencyLayer;
pub use response::NOT_SAVED;
pub use scope::{Principal, Scope};
pub use service::Idempotency;
