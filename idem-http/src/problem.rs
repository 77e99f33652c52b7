//! The layer's own error responses, as `application/problem+json`
//! (RFC 9457). Each `type` is a URI naming the problem; `detail` never
//! echoes the key, the payload or a saved response.
//!
//! | status | `type` ends in | when |
//! |---|---|---|
//! | 400 | `#missing-key` | a guarded method without the key header, when the key is required |
//! | 400 | `#invalid-key` | an empty, oversized, malformed or repeated key header |
//! | 400 | `#unreadable-body` | the request body could not be read |
//! | 409 | `#in-progress` | the same key is still being processed (with `Retry-After`) |
//! | 409 | `#replay-unavailable` | the key completed, but its response was too large to save |
//! | 413 | `#body-too-large` | the request body exceeds the buffering limit |
//! | 422 | `#payload-mismatch` | the key was used with another request (method, path, body) |
//! | 500 | `#internal` | a saved response cannot be decoded, or the handler's body failed |
//! | 503 | `#store-unavailable` | the idempotency store failed (with `Retry-After`) |

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::Serialize;

use crate::body::ResponseBody;

/// The base of every `type` URI: the documentation of this module.
pub const TYPE_BASE: &str = "https://docs.rs/idem-http/latest/idem_http/problem/index.html";

/// One kind of problem the layer answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    MissingKey,
    InvalidKey,
    UnreadableBody,
    InProgress,
    ReplayUnavailable,
    BodyTooLarge,
    PayloadMismatch,
    Internal,
    StoreUnavailable,
}

impl Kind {
    fn status(self) -> StatusCode {
        match self {
            Kind::MissingKey | Kind::InvalidKey | Kind::UnreadableBody => StatusCode::BAD_REQUEST,
            Kind::InProgress | Kind::ReplayUnavailable => StatusCode::CONFLICT,
            Kind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::PayloadMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn fragment(self) -> &'static str {
        match self {
            Kind::MissingKey => "missing-key",
            Kind::InvalidKey => "invalid-key",
            Kind::UnreadableBody => "unreadable-body",
            Kind::InProgress => "in-progress",
            Kind::ReplayUnavailable => "replay-unavailable",
            Kind::BodyTooLarge => "body-too-large",
            Kind::PayloadMismatch => "payload-mismatch",
            Kind::Internal => "internal",
            Kind::StoreUnavailable => "store-unavailable",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::MissingKey => "An Idempotency-Key header is required",
            Kind::InvalidKey => "The Idempotency-Key header is invalid",
            Kind::UnreadableBody => "The request body could not be read",
            Kind::InProgress => "A request with this Idempotency-Key is being processed",
            Kind::ReplayUnavailable => "The response to this Idempotency-Key cannot be replayed",
            Kind::BodyTooLarge => "The request body is too large",
            Kind::PayloadMismatch => "This Idempotency-Key was used with another request",
            Kind::Internal => "Internal error",
            Kind::StoreUnavailable => "The idempotency store is unavailable",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// The problem response of `kind`, with `Retry-After` if given.
pub(crate) fn response<B>(
    kind: Kind,
    detail: Option<&str>,
    retry_after: Option<Duration>,
) -> Response<ResponseBody<B>> {
    let status = kind.status();
    let body = Body {
        type_: format!("{TYPE_BASE}#{}", kind.fragment()),
        title: kind.title(),
        status: status.as_u16(),
        detail,
    };
    // Serializing strings and a number cannot fail.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(ResponseBody::full(Bytes::from(json)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(after) = retry_after {
        // Whole seconds, at least 1 (`Retry-After: 0` invites a busy loop).
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    response
}
