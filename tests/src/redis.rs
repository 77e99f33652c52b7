//! Reaching the Redis servers of `scripts/redis.sh`, under the project's rule
//! for when they cannot be reached (the same as DynamoDB Local's).

use idem_redis::RedisStore;

/// The single node; `eval "$(scripts/redis.sh start)"` (and `scripts/test.sh`) set it.
pub const URL_VAR: &str = "IDEM_REDIS_URL";
/// The cluster's seed URLs, comma-separated.
pub const CLUSTER_VAR: &str = "IDEM_REDIS_CLUSTER_URLS";
/// The TLS-only node (`rediss://`).
pub const TLS_VAR: &str = "IDEM_REDIS_TLS_URL";
/// The PEM file of the CA that signed the TLS node's certificate.
pub const TLS_CA_VAR: &str = "IDEM_REDIS_TLS_CA";

/// Which server a Redis test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// One node (`IDEM_REDIS_URL`).
    Single,
    /// The 3-master cluster (`IDEM_REDIS_CLUSTER_URLS`).
    Cluster,
    /// One TLS-only node (`IDEM_REDIS_TLS_URL`), trusted through the CA of
    /// `IDEM_REDIS_TLS_CA` alone.
    Tls,
}

impl Server {
    fn var(self) -> &'static str {
        match self {
            Server::Single => URL_VAR,
            Server::Cluster => CLUSTER_VAR,
            Server::Tls => TLS_VAR,
        }
    }
}

/// The URLs of `server`, or `None` when test `test` cannot reach it.
///
/// When `CI` is set, a Redis test without its server **fails**; it never
/// passes by skipping. Outside CI it prints a loud notice and returns `None`.
pub fn urls(test: &str, server: Server) -> Option<Vec<String>> {
    let var = server.var();
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.split(',').map(|u| u.trim().to_owned()).collect()),
        _ => {
            unreachable_server(test, &format!("{var} is not set"));
            None
        }
    }
}

/// A store on `server` with key prefix `prefix`, or `None` (outside CI,
/// with a notice) when it cannot be reached.
pub async fn store(test: &str, server: Server, prefix: &str) -> Option<RedisStore> {
    let urls = urls(test, server)?;
    let builder = match server {
        Server::Single => RedisStore::builder(urls[0].clone()),
        Server::Cluster => RedisStore::cluster_builder(urls.clone()),
        Server::Tls => {
            let ca = match std::env::var(TLS_CA_VAR).map(std::fs::read) {
                Ok(Ok(pem)) => pem,
                _ => {
                    unreachable_server(test, &format!("{TLS_CA_VAR} names no readable file"));
                    return None;
                }
            };
            RedisStore::builder(urls[0].clone()).tls_root_certificate(ca)
        }
    };
    match builder.key_prefix(prefix).connect().await {
        Ok(store) => Some(store),
        Err(e) => {
            unreachable_server(test, &format!("{urls:?}: {}", crate::chain(&e)));
            None
        }
    }
}

/// Fails under CI, else prints the loud notice.
fn unreachable_server(test: &str, why: &str) {
    assert!(
        !crate::in_ci(),
        "{test}: {why} but CI is: Redis tests must run against a real server. Start them with \
         `eval \"$(scripts/redis.sh start)\"` (or run scripts/test.sh)."
    );
    eprintln!(
        "\n\
         ************************************************************************\n\
         NOT RUN: {test} (Redis)\n\
         {why}. This is allowed only outside CI; with CI set it fails.\n\
         Run: eval \"$(scripts/redis.sh start)\" and test again.\n\
         ************************************************************************\n"
    );
}
