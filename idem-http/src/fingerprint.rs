//! Which parts of a request must match for a key to replay: a key sent again
//! with another request is refused (422), never answered with the first
//! request's response.

use bytes::Bytes;
use http::request::Parts;
use serde::ser::SerializeTuple;
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
            spec: self,
            parts,
            body,
        }
    }
}

/// The fingerprinted parts of a request, hashed as one tuple (method, path,
/// query, body, headers) with `None` for a part left out: a tuple streams
/// into the hash, where a struct's fields would be sorted first.
pub(crate) struct FingerprintParts<'a> {
    spec: &'a RequestFingerprint,
    parts: &'a Parts,
    body: &'a Bytes,
}

impl Serialize for FingerprintParts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (spec, parts) = (self.spec, self.parts);
        let mut tuple = serializer.serialize_tuple(5)?;
        tuple.serialize_element(&spec.method.then(|| parts.method.as_str()))?;
        tuple.serialize_element(&spec.path.then(|| parts.uri.path()))?;
        tuple.serialize_element(&spec.query.then(|| parts.uri.query()).flatten())?;
        tuple.serialize_element(&spec.body.then_some(Raw(self.body)))?;
        tuple.serialize_element(&Headers(self))?;
        tuple.end()
    }
}

/// The fingerprinted headers' values, in the configured order.
struct Headers<'a>(&'a FingerprintParts<'a>);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let headers = &self.0.parts.headers;
        serializer.collect_seq(
            self.0
                .spec
                .headers
                .iter()
                .map(|name| headers.get(name).map(|v| Raw(v.as_bytes()))),
        )
    }
}

/// Bytes hashed as one byte string, not as a sequence of numbers.
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}
