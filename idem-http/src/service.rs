//! [`Idempotency`]: the service the layer wraps around a handler.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use idem_core::{Idempotent, Outcome, Store};
use tower_service::Service;

use crate::body::{self, BoxError, Collected, ResponseBody};
use crate::config::Config;
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
    store: Arc<dyn Store>,
    config: Arc<Config>,
}

impl<S> Idempotency<S> {
    pub(crate) fn new(inner: S, store: Arc<dyn Store>, config: Arc<Config>) -> Self {
        Idempotency {
            inner,
            store,
            config,
        }
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
            store: Arc::clone(&self.store),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Idempotency<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotency")
            .field("inner", &self.inner)
            .field("config", &self.config)
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
        let config = &self.config;
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
            inner,
            store: Arc::clone(&self.store),
            config: Arc::clone(&self.config),
        };
        ResponseFuture::guarded(Box::pin(guarded.run(parts, body, key, caller)))
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

/// One guarded request, with what it needs from the service.
struct Guarded<S> {
    inner: S,
    store: Arc<dyn Store>,
    config: Arc<Config>,
}

impl<S> Guarded<S> {
    async fn run<ReqBody, ResBody>(
        self,
        parts: Parts,
        body: ReqBody,
        key: String,
        caller: Caller,
    ) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: Body + From<Vec<u8>>,
        ReqBody::Error: Into<BoxError>,
        ResBody: Body<Data = Bytes>,
        ResBody::Error: Into<BoxError>,
    {
        let Guarded {
            inner,
            store,
            config,
        } = self;
        let bytes = match read(body, &parts, config.max_request_bytes).await {
            Ok(bytes) => bytes,
            Err(kind) => return Ok(problem::response(kind, None, None)),
        };
        // The first caller gets the handler's own response (all its headers);
        // the body returns what is saved.
        let mut first: Option<Response<ResponseBody<ResBody>>> = None;
        let first_slot = &mut first;
        // This future is allocated and moved on every request, so it is kept
        // small. The call is built in a block whose value is awaited: as one
        // chain ending in `.await`, the builder in a local beside it, the
        // engine's 2,160-byte call future was held twice (5,152 bytes against
        // 2,992). What only the handler needs stays here, lent to the body
        // closure, which the engine's future holds more than once and a replay
        // never calls (2,304 bytes, against 2,992 with it moved in).
        let mut handler: Option<(S, Parts, Bytes)>;
        let settings: &Config = &config;
        let result = {
            let mut call = Idempotent::new(config.namespace.clone())
                .store(&*store)
                .ttl(config.ttl)
                .lease(config.lease)
                .in_progress(config.in_progress)
                .key("caller", &caller)
                .key("idempotency_key", key.as_str());
            if let Some(fingerprint) = &config.fingerprint {
                call = call.validate(&fingerprint.of(&parts, &bytes));
            }
            handler = Some((inner, parts, bytes));
            let handler = &mut handler;
            call.run_with_outcome(move || async move {
                let Some((mut inner, parts, bytes)) = handler.take() else {
                    // The engine runs the body once at most.
                    return Err(Failure::Release);
                };
                let max_response_bytes = settings.max_response_bytes;
                let request = Request::from_parts(parts, ReqBody::from(Vec::from(bytes)));
                let response = inner.call(request).await.map_err(Failure::Inner)?;
                let (head, body) = response.into_parts();
                if !(settings.save)(head.status) {
                    *first_slot = Some(Response::from_parts(head, ResponseBody::new(body)));
                    return Err(Failure::Release);
                }
                match body::collect(body, max_response_bytes).await {
                    Collected::Whole(bytes) => {
                        let marker = settings.replay_header.as_ref();
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
            })
        }
        .await;
        Ok(match result {
            Ok((saved, outcome)) => match (outcome, first) {
                (Outcome::Replayed, _) | (_, None) => replay(saved, config.replay_header.as_ref()),
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
            Err(Failure::Idem(e)) => idem_problem(&e, &config),
        })
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
