//! [`Idempotency`]: the service the layer wraps around a handler.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use idem_core::{Idempotent, Outcome};
use tower_service::Service;

use crate::body::{self, BoxError, Collected, ResponseBody};
use crate::config::{Config, Shared};
use crate::future::ResponseFuture;
use crate::key;
use crate::problem::{self, Kind};
use crate::response::{Saved, SavedResponse};
use crate::scope::Caller;

/// The service of [`IdempotencyLayer`](crate::IdempotencyLayer), around the
/// handler `S`.
///
/// Its request body type is the handler's, rebuilt from the buffered bytes
/// (`From<Vec<u8>>`: axum's `Body`, `lambda_http::Body`, `Full<Bytes>`); its
/// response body is [`ResponseBody`] over the handler's.
pub struct Idempotency<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Idempotency<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Idempotency { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for Idempotency<S> {
    fn clone(&self) -> Self {
        Idempotency {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Idempotency<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body + From<Vec<u8>> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.shared.config;
        if !config.guards(request.method()) {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let key = match key::from_headers(request.headers(), &config.header, config.max_key_len) {
            Ok(Some(key)) => key.into_owned(),
            Ok(None) if !config.require_key => {
                return ResponseFuture::inner(self.inner.call(request));
            }
            Ok(None) => {
                let detail = format!("send an {} header with this request", config.header);
                return ResponseFuture::ready(problem::response(
                    Kind::MissingKey,
                    Some(&detail),
                    None,
                ));
            }
            Err(e) => {
                let detail = e.detail(&config.header, config.max_key_len);
                return ResponseFuture::ready(problem::response(
                    Kind::InvalidKey,
                    Some(&detail),
                    None,
                ));
            }
        };
        // The service that was made ready goes to the call; a clone stays.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        let caller = Caller::from(config.scope.caller(&parts));
        let guarded = Guarded {
            handler: Some((inner, parts)),
            shared: Arc::clone(&self.shared),
            key,
            caller,
        };
        ResponseFuture::guarded(Box::pin(guarded.run(body)))
    }
}

/// Why a guarded handler's response is not saved.
enum Failure<E> {
    Idem(idem_core::Error),
    /// The handler failed: its error goes to the caller.
    Inner(E),
    /// A status that is not saved: the response goes to the caller as is.
    Release,
    /// The handler's response body failed while being read.
    BodyFailed,
}

impl<E> From<idem_core::Error> for Failure<E> {
    fn from(e: idem_core::Error) -> Self {
        Failure::Idem(e)
    }
}

/// One guarded request: what it needs from the service, and the request
/// without its body.
struct Guarded<S> {
    /// The handler and the request's parts, lent to the body closure (which
    /// a replay never calls): taken out only to run the handler.
    handler: Option<(S, Parts)>,
    shared: Arc<Shared>,
    key: String,
    caller: Caller,
}

impl<S> Guarded<S> {
    /// The request's response.
    ///
    /// Its future is allocated on every request, so it is kept under 1 KiB,
    /// where the allocator serves it from a per-thread cache (larger blocks
    /// cost a trip through malloc's bins, a visible share of a replay). So:
    /// a plain `fn` returning an `async` block (an `async fn` keeps its
    /// arguments twice in its future), the request's parts kept once, and
    /// the engine's call future boxed on its own.
    #[allow(clippy::manual_async_fn)]
    fn run<ReqBody, ResBody>(
        mut self,
        body: ReqBody,
    ) -> impl Future<Output = Result<Response<ResponseBody<ResBody>>, S::Error>>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: Body + From<Vec<u8>>,
        ReqBody::Error: Into<BoxError>,
        ResBody: Body<Data = Bytes>,
        ResBody::Error: Into<BoxError>,
    {
        async move {
            let config = &self.shared.config;
            let Some((_, parts)) = &self.handler else {
                return Ok(problem::response(Kind::Internal, None, None));
            };
            let mut bytes = match read(body, parts, config.max_request_bytes).await {
                Ok(bytes) => bytes,
                Err(kind) => return Ok(problem::response(kind, None, None)),
            };
            let mut call = Idempotent::new(config.namespace.clone())
                .store(&*self.shared.store)
                .ttl(config.ttl)
                .lease(config.lease)
                .in_progress(config.in_progress)
                .key("caller", &self.caller)
                .key("idempotency_key", self.key.as_str());
            if let Some(fingerprint) = &config.fingerprint {
                call = call.validate(&fingerprint.of(parts, &bytes));
            }
            // The first caller gets the handler's own response (all its
            // headers); the body returns what is saved.
            let mut first: Option<Response<ResponseBody<ResBody>>> = None;
            let first_slot = &mut first;
            let handler = &mut self.handler;
            let bytes = &mut bytes;
            let result = Box::pin(call.run_with_outcome(move || async move {
                let Some((mut inner, parts)) = handler.take() else {
                    // The engine runs the body once at most.
                    return Err(Failure::Release);
                };
                let max_response_bytes = config.max_response_bytes;
                let body = ReqBody::from(Vec::from(std::mem::take(bytes)));
                let request = Request::from_parts(parts, body);
                let response = inner.call(request).await.map_err(Failure::Inner)?;
                let (head, body) = response.into_parts();
                if !(config.save)(head.status) {
                    *first_slot = Some(Response::from_parts(head, ResponseBody::new(body)));
                    return Err(Failure::Release);
                }
                match body::collect(body, max_response_bytes).await {
                    Collected::Whole(bytes) => {
                        let marker = config.replay_header.as_ref();
                        let saved = SavedResponse::new(&head, bytes.clone(), marker);
                        *first_slot = Some(Response::from_parts(head, ResponseBody::full(bytes)));
                        Ok(Saved::Response(saved))
                    }
                    Collected::TooLarge(body) => {
                        tracing::warn!(
                            limit = max_response_bytes,
                            "the response is larger than max_response_bytes: streamed, not saved; \
                             replays get 409 replay-unavailable"
                        );
                        *first_slot = Some(Response::from_parts(head, body));
                        Ok(Saved::Unsaveable)
                    }
                    Collected::Failed(e) => {
                        tracing::warn!(error = %e, "the handler's response body failed; the key is released");
                        Err(Failure::BodyFailed)
                    }
                }
            }))
            .await;
            Ok(match result {
                Ok((saved, outcome)) => match (outcome, first) {
                    (Outcome::Replayed, _) | (_, None) => {
                        replay(saved, config.replay_header.as_ref())
                    }
                    (_, Some(response)) => response,
                },
                Err(Failure::Release) => match first {
                    Some(response) => response,
                    None => problem::response(Kind::Internal, None, None),
                },
                Err(Failure::Inner(e)) => return Err(e),
                Err(Failure::BodyFailed) => problem::response(
                    Kind::Internal,
                    Some("the handler's response body failed"),
                    None,
                ),
                Err(Failure::Idem(e)) => idem_problem(&e, config),
            })
        }
    }
}

/// Buffers the request body up to `limit` bytes.
async fn read<B>(body: B, parts: &Parts, limit: usize) -> Result<Bytes, Kind>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Kind::BodyTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Kind::BodyTooLarge),
        Err(_) => Err(Kind::UnreadableBody),
    }
}

/// A saved response, with the replay marker.
fn replay<B>(saved: Saved, marker: Option<&http::HeaderName>) -> Response<ResponseBody<B>> {
    let Saved::Response(saved) = saved else {
        // Never decoded from a store: `Unsaveable` has no encoding.
        return problem::response(Kind::Internal, None, None);
    };
    let mut response = Response::new(ResponseBody::full(saved.body));
    *response.status_mut() = saved.status;
    *response.headers_mut() = saved.headers;
    if let Some(marker) = marker {
        response
            .headers_mut()
            .insert(marker.clone(), HeaderValue::from_static("true"));
    }
    response
}

/// idem's own error, as a problem response. Logged with what the error
/// carries (namespace, short key digest), never payloads.
fn idem_problem<B>(e: &idem_core::Error, config: &Config) -> Response<ResponseBody<B>> {
    use idem_core::Error;
    match e {
        Error::InProgress { .. } => problem::response(
            Kind::InProgress,
            Some("retry after the Retry-After delay"),
            Some(config.retry_after),
        ),
        Error::PayloadMismatch { .. } => problem::response(
            Kind::PayloadMismatch,
            Some("the key was first used with another method, path or body"),
            None,
        ),
        Error::ReplayUnavailable { .. } => problem::response(
            Kind::ReplayUnavailable,
            Some("the request was processed, but its response was too large to save"),
            None,
        ),
        Error::Store { .. } => {
            tracing::warn!(error = %e, "idempotency store failed; answering 503");
            problem::response(Kind::StoreUnavailable, None, Some(config.retry_after))
        }
        other => {
            tracing::error!(error = %other, "idempotency failed; answering 500");
            problem::response(Kind::Internal, None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn a_guarded_request_future_fits_the_allocators_per_thread_cache() {
        // Allocated per request: glibc serves up to about 1 KiB from a
        // per-thread cache, larger blocks from its bins (measured: a 2.4 KB
        // future cost a consolidation of its fast bins on every request).
        let service = tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        });
        let (parts, body) = Request::new(Full::new(Bytes::from_static(b"{}"))).into_parts();
        let guarded = Guarded {
            handler: Some((service, parts)),
            shared: Arc::new(Shared {
                store: Arc::new(idem_core::MemoryStore::new()),
                config: Config::default(),
            }),
            key: "k".to_owned(),
            caller: Caller::Anonymous,
        };
        let future = guarded.run(body);
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1024, "the guarded future: {size} bytes");
    }
}
