//! An API Gateway HTTP API (v2) endpoint, `POST /payments`, that answers like
//! the IETF Idempotency-Key draft:
//!
//! | request | response |
//! |---|---|
//! | first with a key | the handler's response (201), saved |
//! | same key, same body | the saved response, byte for byte |
//! | same key while the first still runs | 409 Conflict, `Retry-After` |
//! | same key, another body | 422 Unprocessable Content |
//! | no key at all | 400 Bad Request |
//!
//! The key is the `Idempotency-Key` header, else API Gateway's request id
//! (which only deduplicates redeliveries of the very same request).

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use idem_core::{idempotent, Store};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};

use crate::payments::{Payment, Provider};

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What the guarded function sees of a request.
#[derive(Debug, Serialize)]
pub struct PaymentRequest {
    /// The client's key, else the request id.
    pub idempotency_key: Option<String>,
    /// The payment asked for; validated against the first request's.
    pub payment: Payment,
}

/// A response as saved and replayed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// Errors of the guarded function.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// idem's own error, mapped to 409/422/400/500.
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
}

/// The HTTP handler, over any store.
#[derive(Debug)]
pub struct HttpHandler<S> {
    store: S,
    provider: Provider,
}

impl<S: Store> HttpHandler<S> {
    /// A handler charging through `provider`, deduplicating in `store`.
    pub fn new(store: S, provider: Provider) -> Self {
        HttpHandler { store, provider }
    }

    /// The payment provider (to count charges).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Handles one request.
    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayV2httpRequest>,
    ) -> Result<ApiGatewayV2httpResponse, lambda_runtime::Error> {
        let request = &event.payload;
        let payment = match request.body.as_deref().map(serde_json::from_str::<Payment>) {
            Some(Ok(payment)) => payment,
            _ => {
                return Ok(respond(
                    400,
                    r#"{"error":"the body must be a payment"}"#,
                    None,
                ))
            }
        };
        let idempotency_key = request
            .headers
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| request.request_context.request_id.clone());
        let call = PaymentRequest {
            idempotency_key,
            payment,
        };
        Ok(match self.create_payment(&call).await {
            Ok(saved) => respond(saved.status, &saved.body, None),
            Err(ApiError::Idem(e)) => match e {
                idem_core::Error::InProgress { retry_after, .. } => respond(
                    409,
                    r#"{"error":"a request with this Idempotency-Key is being processed"}"#,
                    Some(retry_after.as_secs().max(1)),
                ),
                idem_core::Error::PayloadMismatch { .. } => respond(
                    422,
                    r#"{"error":"this Idempotency-Key was used with another payload"}"#,
                    None,
                ),
                idem_core::Error::MissingKey { .. } => respond(
                    400,
                    r#"{"error":"an Idempotency-Key header is required"}"#,
                    None,
                ),
                other => {
                    tracing::error!(error = %other, "idempotency failed");
                    respond(500, r#"{"error":"internal error"}"#, None)
                }
            },
        })
    }

    /// Creates the payment; the response is saved for 24 hours.
    #[idempotent(
        key = "request.idempotency_key",
        validate = "request.payment",
        ttl = "24h",
        store = &self.store,
        name = "examples::http::create_payment"
    )]
    pub async fn create_payment(
        &self,
        request: &PaymentRequest,
    ) -> Result<SavedResponse, ApiError> {
        let key = idem_core::current_key().map(|k| k.storage_key().to_owned());
        let receipt = self
            .provider
            .charge(&request.payment, key.as_deref().unwrap_or_default())
            .await;
        Ok(SavedResponse {
            status: 201,
            body: serde_json::to_string(&receipt).unwrap_or_default(),
        })
    }
}

fn respond(status: u16, body: &str, retry_after_secs: Option<u64>) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(secs) = retry_after_secs {
        headers.insert("retry-after", HeaderValue::from(secs));
    }
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(Body::Text(body.to_owned()));
    response
}
