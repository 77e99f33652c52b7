//! Configuration: where the server is, the key prefix, retries and timeouts,
//! and the builder that connects.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::error::{ConnectError, RedisFailure};
use crate::scripts::Scripts;
use crate::store::RedisStore;

/// The default number of attempts of one command (the first and 3 retries).
pub(crate) const DEFAULT_ATTEMPTS: u32 = 4;
/// Redis caps one bulk string at 512 MiB (`proto-max-bulk-len`); leave room
/// for the script's other arguments.
pub(crate) const DEFAULT_MAX_DATA_BYTES: usize = 512 * 1024 * 1024 - 64 * 1024;

/// One connection, to a single node or a cluster; cheap to clone (clones
/// share it: commands are multiplexed).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Everything a [`RedisStore`] needs besides the connection; shared by clones.
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
enum Target {
    Single(String),
    Cluster(Vec<String>),
}

/// Builds a [`RedisStore`]: a single node or a cluster, a key prefix,
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
    target: Target,
    key_prefix: String,
    attempts: u32,
    retry_delay: Duration,
    response_timeout: Duration,
    connection_timeout: Duration,
    max_data_bytes: usize,
    #[cfg(feature = "tls")]
    root_cert_pem: Option<Vec<u8>>,
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

    /// Opens the connection (and, for a cluster, reads its slot map).
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidUrl`] for a URL the client cannot use (a
    /// `rediss://` URL needs the `tls` feature), [`ConnectError::Connect`]
    /// when no server answers, [`ConnectError::NoSeeds`] for a cluster
    /// without seed URLs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = idem_redis::RedisStore::cluster_builder(Vec::<String>::new()).connect().await.unwrap_err();
    /// assert!(matches!(err, idem_redis::ConnectError::NoSeeds));
    /// # }
    /// ```
    pub async fn connect(self) -> Result<RedisStore, ConnectError> {
        #[cfg(feature = "tls")]
        ensure_crypto_provider();
        let (conn, server) = match &self.target {
            Target::Single(url) => {
                let client = self
                    .open_client(url)
                    .map_err(|e| ConnectError::InvalidUrl(RedisFailure::new(e)))?;
                let server = format!("redis {}", client.get_connection_info().addr());
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(2);
                let manager = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| ConnectError::Connect {
                        server: server.clone(),
                        source: RedisFailure::new(e),
                    })?;
                (Conn::Single(manager), server)
            }
            Target::Cluster(urls) => {
                let mut infos = Vec::with_capacity(urls.len());
                for url in urls {
                    let info = url
                        .as_str()
                        .into_connection_info()
                        .map_err(|e| ConnectError::InvalidUrl(RedisFailure::new(e)))?;
                    infos.push(info);
                }
                let first = infos.first().ok_or(ConnectError::NoSeeds)?;
                let server = match infos.len() {
                    1 => format!("redis cluster {}", first.addr()),
                    n => format!("redis cluster {} (+{} seeds)", first.addr(), n - 1),
                };
                let cluster = ClusterClientBuilder::new(infos);
                #[cfg(feature = "tls")]
                let cluster = match &self.root_cert_pem {
                    Some(pem) => cluster.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem.clone()),
                    }),
                    None => cluster,
                };
                let client = cluster
                    .response_timeout(self.response_timeout)
                    .connection_timeout(self.connection_timeout)
                    .build()
                    .map_err(|e| ConnectError::InvalidUrl(RedisFailure::new(e)))?;
                let conn =
                    client
                        .get_async_connection()
                        .await
                        .map_err(|e| ConnectError::Connect {
                            server: server.clone(),
                            source: RedisFailure::new(e),
                        })?;
                (Conn::Cluster(conn), server)
            }
        };
        let settings = Settings {
            server,
            key_prefix: self.key_prefix,
            attempts: self.attempts,
            retry_delay: self.retry_delay,
            max_data_bytes: self.max_data_bytes,
            scripts: Scripts::new(),
        };
        Ok(RedisStore::from_parts(conn, Arc::new(settings)))
    }
}

impl RedisStoreBuilder {
    fn open_client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.root_cert_pem {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            return redis::Client::build_with_tls(url, certs);
        }
        redis::Client::open(url)
    }
}

/// rustls needs one process-wide crypto provider when more than one is
/// compiled in (the AWS SDK brings aws-lc-rs; another crate may bring ring):
/// install aws-lc-rs unless the application already chose one.
#[cfg(feature = "tls")]
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(1, |a| a.port())
    }

    #[tokio::test]
    async fn tls_urls_need_the_tls_feature() {
        let url = format!("rediss://127.0.0.1:{}", closed_port());
        let err = RedisStoreBuilder::single(url)
            .connection_timeout(Duration::from_millis(200))
            .connect()
            .await
            .err();
        if cfg!(feature = "tls") {
            assert!(matches!(err, Some(ConnectError::Connect { .. })), "{err:?}");
        } else {
            assert!(matches!(err, Some(ConnectError::InvalidUrl(_))), "{err:?}");
        }
    }
}
