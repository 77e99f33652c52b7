//! Errors of idem itself. They reach callers through the guarded function's
//! own error type (`E: From<idem_core::Error>`), so `?` and `anyhow` just work.

use std::time::Duration;

use crate::store::StoreError;

/// An error of idem itself (never of the guarded body).
///
/// Every variant names the namespace and a short digest of the key
/// (`namespace#1a2b3c4d`) — never payload or result contents.
///
/// ```
/// fn handle(e: &idem_core::Error) -> u16 {
///     match e {
///         idem_core::Error::InProgress { .. } => 409,
///         idem_core::Error::PayloadMismatch { .. } => 422,
///         idem_core::Error::MissingKey { .. } => 400,
///         _ => 500,
///     }
/// }
/// # let _ = handle;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key part was `None`, null or an empty string (and `on_missing_key`
    /// is `error`).
    #[error("idempotency key part `{part}` is missing in `{namespace}`")]
    MissingKey {
        /// Namespace of the guarded function.
        namespace: String,
        /// The missing part, as written in `key = "…"`.
        part: String,
    },
    /// A key or fingerprint part's `Serialize` implementation failed.
    #[error("idempotency key part `{part}` of `{namespace}` cannot be hashed: {reason}")]
    InvalidKey {
        /// Namespace of the guarded function.
        namespace: String,
        /// The part, as written in `key = "…"` (or `validate`).
        part: String,
        /// What `Serialize` reported.
        reason: String,
    },
    /// Another call with this key is running.
    ///
    /// `retry_after` is a hint for an HTTP `Retry-After` or a queue's
    /// visibility timeout: a short pause (at most 1 s, never past the lease's
    /// end) after which the first run has often finished and a retry gets its
    /// result. `lease_lapses_in` is the worst case: if the first run crashed,
    /// its claim holds the key that much longer.
    #[error("`{key}` is already in progress; retry after {retry_after:?}")]
    InProgress {
        /// Namespace of the guarded function.
        namespace: String,
        /// `namespace#digest-prefix`.
        key: String,
        /// A suggested pause before retrying: the rest of the lease, at most 1 s.
        retry_after: Duration,
        /// Until the running call's lease lapses.
        lease_lapses_in: Duration,
    },
    /// A duplicate carried a payload whose fingerprint (`validate`) differs
    /// from the first call's.
    #[error("`{key}` was first called with a different payload")]
    PayloadMismatch {
        /// Namespace of the guarded function.
        namespace: String,
        /// `namespace#digest-prefix`.
        key: String,
    },
    /// The first call succeeded but its result was too large to save: the
    /// effect will not run again, and its result cannot be replayed.
    #[error("`{key}` completed, but its result was too large to save and cannot be replayed")]
    ReplayUnavailable {
        /// Namespace of the guarded function.
        namespace: String,
        /// `namespace#digest-prefix`.
        key: String,
    },
    /// A saved result could not be decoded into the function's return type
    /// (corrupt data, or the type changed incompatibly).
    #[error("the saved result of `{key}` cannot be decoded ({reason})")]
    Decode {
        /// Namespace of the guarded function.
        namespace: String,
        /// `namespace#digest-prefix`.
        key: String,
        /// What kind of mismatch, and where: never the saved value itself
        /// (the decoder's own message quotes it).
        reason: String,
    },
    /// The store failed; the source says how.
    #[error("idempotency store failed for `{key}`")]
    Store {
        /// Namespace of the guarded function.
        namespace: String,
        /// `namespace#digest-prefix`.
        key: String,
        /// The store's error.
        source: StoreError,
    },
    /// No store was given and no process default is usable.
    #[error("no idempotency store for `{namespace}`: {reason}")]
    NoStore {
        /// Namespace of the guarded function.
        namespace: String,
        /// Why the in-memory fallback was not used.
        reason: &'static str,
    },
    /// Two different functions (call sites) use one namespace in this
    /// process, so they would read each other's records: the call fails
    /// rather than replay another function's result. Give one of them
    /// `name = "…"`.
    #[error("namespace `{namespace}` is used by two functions, at {first} and at {second}; give one of them `name = \"…\"`")]
    NamespaceClash {
        /// The shared namespace.
        namespace: String,
        /// Where the namespace was first used (`file:line:column`).
        first: &'static str,
        /// Where this call is (`file:line:column`).
        second: &'static str,
    },
}

impl Error {
    /// The decode error of a saved result, without the saved value: serde's
    /// message quotes what it read (`invalid type: string "alice@…"`), so
    /// only its category and position are kept.
    pub(crate) fn decode(namespace: &str, key: String, e: &serde_json::Error) -> Self {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "JSON of another shape than the return type",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        Error::Decode {
            namespace: namespace.to_owned(),
            key,
            reason: format!("{kind}, at line {} column {}", e.line(), e.column()),
        }
    }
}

impl Error {
    /// The namespace of the guarded function this error is about.
    ///
    /// ```
    /// let e = idem_core::Error::MissingKey { namespace: "billing::charge".into(), part: "order.id".into() };
    /// assert_eq!(e.namespace(), "billing::charge");
    /// ```
    pub fn namespace(&self) -> &str {
        match self {
            Error::MissingKey { namespace, .. }
            | Error::InvalidKey { namespace, .. }
            | Error::InProgress { namespace, .. }
            | Error::PayloadMismatch { namespace, .. }
            | Error::ReplayUnavailable { namespace, .. }
            | Error::Decode { namespace, .. }
            | Error::Store { namespace, .. }
            | Error::NoStore { namespace, .. }
            | Error::NamespaceClash { namespace, .. } => namespace,
        }
    }

    /// Whether retrying the same call later may succeed (in progress, or a
    /// store failure other than a corrupt record).
    ///
    /// ```
    /// use idem_core::{Error, StoreError};
    /// use std::time::Duration;
    ///
    /// let busy = Error::InProgress {
    ///     namespace: "billing::charge".into(),
    ///     key: "billing::charge#1a2b3c4d".into(),
    ///     retry_after: Duration::from_secs(1),
    ///     lease_lapses_in: Duration::from_secs(3),
    /// };
    /// assert!(busy.is_retryable());
    ///
    /// let corrupt = Error::Store {
    ///     namespace: "billing::charge".into(),
    ///     key: "billing::charge#1a2b3c4d".into(),
    ///     source: StoreError::Corrupt { reason: "unknown status `DONE`".into() },
    /// };
    /// assert!(!corrupt.is_retryable()); // a retry would read the same record
    ///
    /// let unreachable = Error::Store {
    ///     namespace: "billing::charge".into(),
    ///     key: "billing::charge#1a2b3c4d".into(),
    ///     source: StoreError::backend("GetItem", "connection reset"),
    /// };
    /// assert!(unreachable.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::InProgress { .. } => true,
            Error::Store { source, .. } => !matches!(source, StoreError::Corrupt { .. }),
            _ => false,
        }
    }
}
