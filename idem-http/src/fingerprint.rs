//! Which parts of a request must match for a key to replay: a key sent again
//! with another request is refused (422), never answered with the first
//! request's response.

use bytes::Bytes;
use http::request::Parts;
use serde::{Serialize, Serializer};

/// The parts of a request fingerprinted with its key (default: method, path
/// and body bytes).
///
/// A request that reuses a key with another fingerprint gets `422
/// Unprocessable Content`, as the draft asks. The query string and headers
/// are left out by default (a client may add a tracing header or reorder its
/// query on a retry); add them when they change what the request does.
///
/// ```
/// use idem_http::RequestFingerprint;
///
/// let strict = RequestFingerprint::default()
///     .query(true)
///     .header(http::HeaderName::from_static("x-account"));
/// assert!(strict.includes_query());
/// assert!(RequestFingerprint::default().includes_body());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFingerprint {
    method: bool,
    path: bool,
    query: bool,
    body: bool,
    headers: Vec<http::HeaderName>,
}

impl Default for RequestFingerprint {
    fn default() -> Self {
        RequestFingerprint {
            method: true,
            path: true,
            query: false,
            body: true,
            headers: Vec::new(),
        }
    }
}

impl RequestFingerprint {
    /// Nothing: only the key identifies the request (a reused key replays
    /// whatever it answered first).
    ///
    /// ```
    /// assert!(!idem_http::RequestFingerprint::none().includes_body());
    /// ```
    pub fn none() -> Self {
        RequestFingerprint {
            method: false,
            path: false,
            query: false,
            body: false,
            headers: Vec::new(),
        }
    }

    /// Whether the method is fingerprinted (default: yes).
    pub fn method(mut self, yes: bool) -> Self {
        self.method = yes;
        self
    }

    /// Whether the path is fingerprinted (default: yes).
    pub fn path(mut self, yes: bool) -> Self {
        self.path = yes;
        self
    }

    /// Whether the query string is fingerprinted (default: no).
    pub fn query(mut self, yes: bool) -> Self {
        self.query = yes;
        self
    }

    /// Whether the body bytes are fingerprinted (default: yes).
    pub fn body(mut self, yes: bool) -> Self {
        self.body = yes;
        self
    }

    /// Also fingerprints header `name` (absent and empty differ).
    pub fn header(mut self, name: http::HeaderName) -> Self {
        self.headers.push(name);
        self
    }

    /// Whether the query string is fingerprinted.
    ///
    /// ```
    /// assert!(!idem_http::RequestFingerprint::default().includes_query());
    /// ```
    pub fn includes_query(&self) -> bool {
        self.query
    }

    /// Whether the body is fingerprinted.
    ///
    /// ```
    /// assert!(!idem_http::RequestFingerprint::default().body(false).includes_body());
    /// ```
    pub fn includes_body(&self) -> bool {
        self.body
    }

    /// The fingerprinted parts of one request, to hash.
    pub(crate) fn of<'a>(&'a self, parts: &'a Parts, body: &'a Bytes) -> FingerprintParts<'a> {
        FingerprintParts {
            method: self.method.then(|| parts.method.as_str()),
            path: self.path.then(|| parts.uri.path()),
            query: if self.query { parts.uri.query() } else { None },
            body: self.body.then_some(Raw(body)),
            headers: self
                .headers
                .iter()
                .map(|name| parts.headers.get(name).map(|v| Raw(v.as_bytes())))
                .collect(),
        }
    }
}

/// The fingerprinted parts of a request.
#[derive(Serialize)]
pub(crate) struct FingerprintParts<'a> {
    method: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    body: Option<Raw<'a>>,
    headers: Vec<Option<Raw<'a>>>,
}

/// Bytes hashed as one byte string, not as a sequence of numbers.
pub(crate) struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}
