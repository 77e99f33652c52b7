//! Configuration: where the server is, the key prefix, retries and timeouts.
//! Connecting is in `connect`, so this module and `store` do not depend on
//! each other.

use std::time::Duration;

use crate::scripts::Scripts;

/// The default number of attempts of one command (the first and 3 retries).
pub(crate) const DEFAULT_ATTEMPTS: u32 = 4;
/// Redis caps one bulk string at 512 MiB (`proto-max-bulk-len`); leave room
/// for the script's other arguments.
pub(crate) const DEFAULT_MAX_DATA_BYTES: usize = 512 * 1024 * 1024 - 64 * 1024;

/// Everything a [`RedisStore`](crate::RedisStore) needs besides the connection; shared by clones.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `redis host:port` or `redis cluster host:port (+n seeds)`: errors name it.
    pub(crate) server: String,
    pub(crate) key_prefix: String,
    pub(crate) attempts: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) max_data_bytes: usize,
    pub(crate) scripts: Scripts,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Single(String),
    Cluster(Vec<String>),
}

/// Builds a [`RedisStore`](crate::RedisStore): a single node or a cluster, a key prefix,
/// retries and timeouts. [`connect`](RedisStoreBuilder::connect) opens the
/// connection.
///
/// ```no_run
/// use std::time::Duration;
/// use idem_redis::RedisStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), idem_redis::ConnectError> {
/// let store = RedisStore::cluster_builder(["rediss://clustercfg.idem.abc123.use1.cache.amazonaws.com:6379"])
///     .key_prefix("idem:")
///     .response_timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.connect()` is awaited"]
pub struct RedisStoreBuilder {
    pub(crate) target: Target,
    pub(crate) key_prefix: String,
    pub(crate) attempts: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) connection_timeout: Duration,
    pub(crate) max_data_bytes: usize,
    #[cfg(feature = "tls")]
    pub(crate) root_cert_pem: Option<Vec<u8>>,
}

impl RedisStoreBuilder {
    fn new(target: Target) -> Self {
        RedisStoreBuilder {
            target,
            key_prefix: String::new(),
            attempts: DEFAULT_ATTEMPTS,
            retry_delay: Duration::from_millis(20),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            #[cfg(feature = "tls")]
            root_cert_pem: None,
        }
    }

    pub(crate) fn single(url: String) -> Self {
        RedisStoreBuilder::new(Target::Single(url))
    }

    pub(crate) fn cluster(urls: Vec<String>) -> Self {
        RedisStoreBuilder::new(Target::Cluster(urls))
    }

    /// Prepended to every storage key (default: none, so records are named
    /// `namespace#digest` like Powertools' `function#hash`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many times one step is sent when the connection fails or the
    /// server asks to wait (default 4: the first attempt and 3 retries; at
    /// least 1). Every attempt is the same script call with the same lease
    /// token, so a retry of a write that was applied gives the right answer.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The pause before the first retry, doubled before each next one
    /// (default 20 ms).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How long one command waits for its reply before it counts as failed
    /// (and is retried) (default 2 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The largest result (JSON bytes) a record may hold (default: just
    /// under Redis's 512 MiB bulk-string limit). A larger one is saved as
    /// completed without data, so replays get `ReplayUnavailable`.
    pub fn max_data_bytes(mut self, bytes: usize) -> Self {
        self.max_data_bytes = bytes;
        self
    }

    /// Trust only this CA (PEM) for `rediss://` connections, instead of the
    /// system's root certificates (default): a private CA, a test server.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_cert_pem = Some(pem.into());
        self
    }
}
