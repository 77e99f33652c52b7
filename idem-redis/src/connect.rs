//! Opening the connection a [`RedisStore`] runs on: a module of its own, so
//! that `config` (the builder's settings) and `store` do not depend on each
//! other.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::config::{RedisStoreBuilder, Settings, Target};
use crate::error::{ConnectError, RedisFailure};
use crate::scripts::Scripts;
use crate::store::RedisStore;

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

impl RedisStoreBuilder {
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
    use std::time::Duration;

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
