//! An API Gateway HTTP API (v2) endpoint, `POST /payments`, behind
//! [`idem_http::IdempotencyLayer`]: the layer answers as the IETF
//! Idempotency-Key draft, the handler only charges.
//!
//! | request | response |
//! |---|---|
//! | first with a key | the handler's response (201), saved |
//! | same key, same body | the saved response, byte for byte, `Idempotent-Replayed: true` |
//! | same key while the first still runs | 409 Conflict, `Retry-After` |
//! | same key, another body | 422 Unprocessable Content |
//! | no key at all | 400 Bad Request |
//! | a body that is not a payment | 400 (saved like any 4xx) |
//!
//! The key is the `Idempotency-Key` header, else API Gateway's request id
//! (which only deduplicates redeliveries of the very same request): a small
//! step before the layer copies the request id into the header.

use std::sync::Arc;

use http::{HeaderValue, Response};
use idem_core::Store;
use idem_http::{IdempotencyLayer, IDEMPOTENCY_KEY};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use crate::payments::{Payment, Provider};

/// The layered function: what `lambda_http::run` runs.
type Function =
    BoxCloneSyncService<Request, Response<idem_http::ResponseBody<Body>>, lambda_http::Error>;

/// The HTTP handler, over any store.
pub struct HttpHandler {
    function: Function,
    provider: Arc<Provider>,
}

impl std::fmt::Debug for HttpHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHandler")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl HttpHandler {
    /// A handler charging through `provider`, deduplicating in `store`.
    pub fn new(store: impl Store + 'static, provider: Provider) -> Self {
        let provider = Arc::new(provider);
        let layer = IdempotencyLayer::new(store)
            .namespace("examples::http::create_payment")
            .require_key(true);
        let charging = Arc::clone(&provider);
        let handler = lambda_http::service_fn(move |request: Request| {
            create_payment(Arc::clone(&charging), request)
        });
        HttpHandler {
            function: BoxCloneSyncService::new(layer.layer(handler)),
            provider,
        }
    }

    /// The payment provider (to count charges).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Handles one request.
    pub async fn handle(
        &self,
        mut request: Request,
    ) -> Result<Response<idem_http::ResponseBody<Body>>, lambda_http::Error> {
        key_from_request_id(&mut request);
        self.function.clone().oneshot(request).await
    }
}

/// Without an `Idempotency-Key`, keys the request on API Gateway's request id.
fn key_from_request_id(request: &mut Request) {
    if request.headers().contains_key(IDEMPOTENCY_KEY) {
        return;
    }
    let id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    if let Some(id) = id.and_then(|id| HeaderValue::try_from(id).ok()) {
        request.headers_mut().insert(IDEMPOTENCY_KEY, id);
    }
}

/// Creates the payment: runs once per key, inside the layer.
async fn create_payment(
    provider: Arc<Provider>,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let Ok(payment) = serde_json::from_slice::<Payment>(request.body()) else {
        return Ok(json(
            400,
            r#"{"error":"the body must be a payment"}"#.to_owned(),
        ));
    };
    // The layer's key, to pass on to the provider's own idempotency.
    let key = idem_core::current_key().map(|k| k.storage_key().to_owned());
    let receipt = provider
        .charge(&payment, key.as_deref().unwrap_or_default())
        .await;
    Ok(json(201, serde_json::to_string(&receipt)?))
}

fn json(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
