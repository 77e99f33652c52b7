//! Whose key is it: keys are scoped to the caller, so one client never
//! replays another's response.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderName, AUTHORIZATION};
use http::request::Parts;
use serde::Serialize;

/// The caller a request's key belongs to, as set by authentication
/// middleware in the request's extensions; [`Scope::default`] reads it first.
///
/// ```
/// use idem_http::Principal;
///
/// let mut request = http::Request::new(());
/// // What an auth layer does once it has verified the caller:
/// request.extensions_mut().insert(Principal::new("user-42"));
/// assert_eq!(request.extensions().get::<Principal>().map(Principal::as_str), Some("user-42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(String);

impl Principal {
    /// The principal `id` (a user, a tenant, an API client).
    pub fn new(id: impl Into<String>) -> Self {
        Principal(id.into())
    }

    /// The principal's id.
    ///
    /// ```
    /// assert_eq!(idem_http::Principal::new("t-1").as_str(), "t-1");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

type ScopeFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// Finds the caller of a request, so that two callers sending the same key
/// get separate records.
///
/// A scope is a closure over the request's [`Parts`] (headers, extensions,
/// URI) returning the caller's id, or `None` for an anonymous caller: all
/// anonymous callers share one key space. The id is hashed into the record's
/// key and never stored as is.
///
/// The default ([`Scope::default`]): the [`Principal`] extension if an auth
/// layer set one, else the whole `Authorization` header (so two credentials
/// are two callers — a rotated token starts a new key space), else anonymous.
///
/// ```
/// use idem_http::Scope;
///
/// // A tenant header set by a trusted gateway:
/// let by_tenant = Scope::header(http::HeaderName::from_static("x-tenant-id"));
/// // Or anything else, from the request's parts:
/// let by_claim = Scope::new(|parts| {
///     parts.extensions.get::<String>().cloned() // an extension your auth layer sets
/// });
/// let request = http::Request::builder().header("x-tenant-id", "acme").body(()).unwrap();
/// let (parts, ()) = request.into_parts();
/// assert_eq!(by_tenant.caller(&parts), Some("acme".to_owned()));
/// assert_eq!(by_claim.caller(&parts), None);
/// ```
#[derive(Clone)]
pub struct Scope {
    find: Arc<ScopeFn>,
    name: &'static str,
}

impl Scope {
    /// A scope computed by `find`.
    pub fn new(find: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        Scope {
            find: Arc::new(find),
            name: "custom",
        }
    }

    /// The value of header `name` (a tenant header set by a trusted proxy).
    ///
    /// ```
    /// # use idem_http::Scope;
    /// let scope = Scope::header(http::HeaderName::from_static("x-tenant-id"));
    /// let (parts, ()) = http::Request::new(()).into_parts();
    /// assert_eq!(scope.caller(&parts), None); // no header: anonymous
    /// ```
    pub fn header(name: HeaderName) -> Self {
        Scope {
            find: Arc::new(move |parts: &Parts| header_value(parts, &name)),
            name: "header",
        }
    }

    /// The whole `Authorization` header.
    ///
    /// ```
    /// # use idem_http::Scope;
    /// let request = http::Request::builder().header("authorization", "Bearer abc").body(()).unwrap();
    /// let (parts, ()) = request.into_parts();
    /// assert_eq!(Scope::authorization().caller(&parts), Some("Bearer abc".to_owned()));
    /// ```
    pub fn authorization() -> Self {
        Scope {
            find: Arc::new(|parts: &Parts| header_value(parts, &AUTHORIZATION)),
            name: "authorization",
        }
    }

    /// The [`Principal`] extension.
    ///
    /// ```
    /// # use idem_http::{Principal, Scope};
    /// let mut request = http::Request::new(());
    /// request.extensions_mut().insert(Principal::new("user-42"));
    /// let (parts, ()) = request.into_parts();
    /// assert_eq!(Scope::principal().caller(&parts), Some("user-42".to_owned()));
    /// ```
    pub fn principal() -> Self {
        Scope {
            find: Arc::new(principal),
            name: "principal",
        }
    }

    /// No scope: every caller shares one key space. Only for a service with a
    /// single trusted caller.
    ///
    /// ```
    /// # use idem_http::Scope;
    /// let request = http::Request::builder().header("authorization", "Bearer abc").body(()).unwrap();
    /// let (parts, ()) = request.into_parts();
    /// assert_eq!(Scope::global().caller(&parts), None);
    /// ```
    pub fn global() -> Self {
        Scope {
            find: Arc::new(|_: &Parts| None),
            name: "global",
        }
    }

    /// The caller of the request with these parts; `None` is anonymous.
    pub fn caller(&self, parts: &Parts) -> Option<String> {
        (self.find)(parts)
    }
}

impl Default for Scope {
    /// The [`Principal`] extension, else the `Authorization` header, else anonymous.
    ///
    /// ```
    /// # use idem_http::{Principal, Scope};
    /// let mut request = http::Request::builder().header("authorization", "Bearer abc").body(()).unwrap();
    /// let caller = |request: &http::Request<()>| {
    ///     let (parts, ()) = request.clone().into_parts();
    ///     Scope::default().caller(&parts)
    /// };
    /// assert_eq!(caller(&request).as_deref(), Some("Bearer abc"));
    /// request.extensions_mut().insert(Principal::new("user-42"));
    /// assert_eq!(caller(&request).as_deref(), Some("user-42"));
    /// ```
    fn default() -> Self {
        Scope {
            find: Arc::new(|parts: &Parts| {
                principal(parts).or_else(|| header_value(parts, &AUTHORIZATION))
            }),
            name: "default",
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.name).finish()
    }
}

fn principal(parts: &Parts) -> Option<String> {
    parts.extensions.get::<Principal>().map(|p| p.0.clone())
}

fn header_value(parts: &Parts, name: &HeaderName) -> Option<String> {
    // Non-UTF-8 bytes (obs-text) become U+FFFD.
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.is_empty())
}

/// The scope as a key part: anonymous and an id are distinct values, so no
/// id can collide with "anonymous".
#[derive(Serialize)]
pub(crate) enum Caller {
    Anonymous,
    Id(String),
}

impl From<Option<String>> for Caller {
    fn from(id: Option<String>) -> Self {
        id.map_or(Caller::Anonymous, Caller::Id)
    }
}
