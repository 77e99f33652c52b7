//! Errors: failed connections, and client errors turned into [`StoreError`]s.

use idem_core::StoreError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Why a [`RedisStore`](crate::RedisStore) could not be built: a bad URL or
/// an unreachable server. Display names the server; the source, a
/// [`RedisFailure`], says why.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = idem_redis::RedisStore::connect("http://127.0.0.1:6379").await.unwrap_err();
/// assert_eq!(err.to_string(), "invalid redis URL");
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL (or a cluster seed URL) cannot be used.
    #[error("invalid redis URL")]
    InvalidUrl(#[source] RedisFailure),
    /// No connection could be made to the server (or any cluster seed).
    #[error("connecting to {server} failed")]
    Connect {
        /// The server: `redis host:port` or `redis cluster host:port (+n seeds)`.
        server: String,
        /// Why.
        #[source]
        source: RedisFailure,
    },
    /// No cluster seed URL was given.
    #[error("a cluster needs at least one seed URL")]
    NoSeeds,
}

/// Why a Redis command failed: the source of
/// [`StoreError::Backend`](idem_core::StoreError::Backend) and
/// [`ConnectError`].
///
/// The client's own error shows a server error twice under `{:#}` (its
/// Display and its source say the same); this one renders it once and ends
/// the chain there. The client error itself is kept for inspection.
///
/// ```
/// use idem_redis::RedisFailure;
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
/// let failure = RedisFailure::new(redis::RedisError::from(io));
/// assert_eq!(failure.to_string(), "connection reset");
/// assert!(failure.redis_error().is_io_error());
/// ```
#[derive(Debug)]
pub struct RedisFailure {
    error: RedisError,
}

impl RedisFailure {
    /// Wraps a client error.
    pub fn new(error: RedisError) -> Self {
        RedisFailure { error }
    }

    /// The client's error, to inspect its kind or code.
    pub fn redis_error(&self) -> &RedisError {
        &self.error
    }
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for RedisFailure {}

/// Server replies that mean "not now": send the same command again later.
const WAIT_CODES: [&str; 6] = [
    "LOADING",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
    "BUSY",
];

/// Whether sending the same command again may succeed, and gives the right
/// answer: the connection broke or timed out (the command may or may not
/// have been applied), or the server asked us to wait (loading its data,
/// a cluster slot moving or failing over, a script running).
pub(crate) fn is_transient(err: &RedisError) -> bool {
    if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
        return true;
    }
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::ClusterConnectionNotFound => true,
        // The same replies when the client did not classify them (inside a
        // script's error, or as an extension error), and BUSY (a script ran
        // past `busy-reply-threshold`).
        _ => err.code().is_some_and(|code| WAIT_CODES.contains(&code)),
    }
}

/// Whether the key holds something other than a hash (a Powertools record is
/// a string of JSON).
pub(crate) fn is_wrong_type(err: &RedisError) -> bool {
    err.code() == Some("WRONGTYPE")
        || err
            .detail()
            .is_some_and(|d| d.contains("WRONGTYPE") || d.contains("wrong kind of value"))
}

/// A failed command as a [`StoreError`] naming the operation and server:
/// "EVALSHA claim on redis 127.0.0.1:6379 failed".
pub(crate) fn backend(operation: &str, server: &str, err: RedisError) -> StoreError {
    StoreError::backend(format!("{operation} on {server}"), RedisFailure::new(err))
}

/// A reply that is not what the script returns.
pub(crate) fn unexpected(operation: &str, server: &str, what: String) -> StoreError {
    StoreError::backend(format!("{operation} on {server}"), what)
}

/// A record that cannot be understood. The reason names the server and key,
/// so an operator can find and fix (or delete) it.
pub(crate) fn corrupt(server: &str, redis_key: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        reason: format!("key `{redis_key}` on {server}: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_wait_errors_are_transient_others_are_not() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient(&io));
        let loading = redis::make_extension_error("LOADING".into(), Some("loading".into()));
        let busy = redis::make_extension_error("BUSY".into(), Some("script".into()));
        assert!(is_transient(&busy), "{busy:?}");
        assert!(is_transient(&loading), "{loading:?}");
        let other = redis::make_extension_error("ERR".into(), Some("syntax".into()));
        assert!(!is_transient(&other));
    }

    #[test]
    fn backend_display_names_operation_and_server_and_shows_the_cause_once() {
        let io = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let e = backend("EVALSHA claim", "redis 127.0.0.1:6379", io);
        assert_eq!(
            e.to_string(),
            "EVALSHA claim on redis 127.0.0.1:6379 failed"
        );
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "refused");
        assert!(source.source().is_none(), "the chain ends at the failure");
    }
}
