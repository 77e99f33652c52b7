//! The response body the layer returns, and buffering of the handler's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

/// An error of a response body: the handler's body error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// The body of a response that passed through the layer: the handler's
    /// own body (unguarded requests, responses too large to buffer, statuses
    /// that are not saved), or bytes (buffered, replayed, problem responses).
    ///
    /// ```
    /// use http_body::Body as _;
    /// use idem_http::ResponseBody;
    ///
    /// let body: ResponseBody<http_body_util::Empty<bytes::Bytes>> = ResponseBody::full("saved".into());
    /// assert_eq!(body.size_hint().exact(), Some(5));
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Full { data: Option<Bytes> },
        Inner { #[pin] body: B },
        // A body whose first bytes were read while trying to buffer it.
        Rest { prefix: Option<Bytes>, body: Pin<Box<B>> },
    }
}

impl<B> ResponseBody<B> {
    /// A body of these bytes.
    pub fn full(data: Bytes) -> Self {
        ResponseBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// The handler's body, unchanged.
    pub fn new(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }

    fn rest(prefix: Bytes, body: Pin<Box<B>>) -> Self {
        ResponseBody {
            kind: Kind::Rest {
                prefix: (!prefix.is_empty()).then_some(prefix),
                body,
            },
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "full",
            Kind::Inner { .. } => "inner",
            Kind::Rest { .. } => "rest",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Rest { prefix, body } => match prefix.take() {
                Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
                None => body.as_mut().poll_frame(cx).map_err(Into::into),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rest { prefix, body } => prefix.is_none() && body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
            Kind::Rest { prefix, body } => {
                let extra = prefix.as_ref().map_or(0, |d| d.len() as u64);
                let inner = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + extra);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + extra);
                }
                hint
            }
        }
    }
}

/// A handler's body, read whole or not.
pub(crate) enum Collected<B> {
    /// All of it (trailers, if any, are dropped).
    Whole(Bytes),
    /// More than the limit: what was read, and the rest, to pass through.
    TooLarge(ResponseBody<B>),
    /// The body failed while being read.
    Failed(BoxError),
}

/// Reads `body` up to `limit` bytes.
pub(crate) async fn collect<B>(body: B, limit: usize) -> Collected<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    // A body that says it is too large is passed through unread.
    if body.size_hint().lower() > limit as u64 {
        return Collected::TooLarge(ResponseBody::rest(Bytes::new(), body));
    }
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_trailers) => continue,
            },
            Err(e) => return Collected::Failed(e.into()),
        };
        let read = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
        if read > limit {
            let mut prefix = BytesMut::with_capacity(read);
            prefix.extend_from_slice(first.as_deref().unwrap_or_default());
            prefix.extend_from_slice(&buf);
            prefix.extend_from_slice(&data);
            return Collected::TooLarge(ResponseBody::rest(prefix.freeze(), body));
        }
        // Most bodies are one frame: keep it without copying.
        match &first {
            None if buf.is_empty() => first = Some(data),
            _ => {
                if let Some(f) = first.take() {
                    buf.extend_from_slice(&f);
                }
                buf.extend_from_slice(&data);
            }
        }
    }
    Collected::Whole(first.unwrap_or_else(|| buf.freeze()))
}
