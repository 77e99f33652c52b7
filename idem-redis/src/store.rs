//! `RedisStore` and its `Store` implementation: one script call per step.

use std::borrow::Cow;
use std::sync::Arc;

use idem_core::store::{Claim, ClaimRequest, Completion, Lease, Record, StoreFuture};
use idem_core::{Store, StoreError};
use redis::{RedisError, ScriptInvocation, Value};

use crate::config::{RedisStoreBuilder, Settings};
use crate::connect::Conn;
use crate::error::{backend, corrupt, is_transient, is_wrong_type, unexpected, ConnectError};
use crate::record::{self, Origin, FIELDS};

/// A [`Store`] on Redis or Valkey (7 or newer), single node or cluster: one
/// hash per record, one Lua script per fenced step.
///
/// | step | command |
/// |---|---|
/// | `claim` | `EVALSHA` claim: writes the in-progress hash if the key is free, else returns the record |
/// | `complete` | `EVALSHA` complete: fenced by the lease token (kept on the completed record) |
/// | `release` | `EVALSHA` release: deletes our in-progress record; nothing there is fine |
/// | `extend` | `EVALSHA` extend: moves `in_progress_expiration`, fenced by the token |
/// | `get` / `delete` | `HMGET` / `DEL` |
///
/// So a first call costs 2 round trips, a duplicate 1, a failed body 2, and
/// a duplicate answered by [`idem_core::Cached`] none.
///
/// Clones share the connection (commands are pipelined on it); build the
/// store once per process, outside the handler.
///
/// ```no_run
/// use idem_core::Idempotent;
/// use idem_redis::RedisStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let receipt: String = Idempotent::new("billing::charge")
///     .store(&store)
///     .key("order_id", "ord-1")
///     .run(|| async { Ok::<_, anyhow::Error>("r-1".to_owned()) })
///     .await?;
/// # let _ = receipt;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.settings.server)
            .field("key_prefix", &self.settings.key_prefix)
            .field("attempts", &self.settings.attempts)
            .field("retry_delay", &self.settings.retry_delay)
            .field("max_data_bytes", &self.settings.max_data_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to one node (`redis://host:port/db`, `rediss://…` with the
    /// `tls` feature) with the default settings.
    ///
    /// # Errors
    ///
    /// See [`RedisStoreBuilder::connect`].
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_redis::ConnectError> {
    /// let store = idem_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.server(), "redis 127.0.0.1:6379");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: impl Into<String>) -> Result<Self, ConnectError> {
        RedisStore::builder(url).connect().await
    }

    /// Connects to a Redis Cluster through its seed nodes with the default
    /// settings.
    ///
    /// # Errors
    ///
    /// See [`RedisStoreBuilder::connect`].
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_redis::ConnectError> {
    /// let store = idem_redis::RedisStore::connect_cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]).await?;
    /// assert_eq!(store.server(), "redis cluster 127.0.0.1:7000 (+1 seeds)");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_cluster<I, U>(urls: I) -> Result<Self, ConnectError>
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        RedisStore::cluster_builder(urls).connect().await
    }

    /// A builder for one node.
    ///
    /// ```
    /// let builder = idem_redis::RedisStore::builder("redis://127.0.0.1:6379").key_prefix("idem:");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::single(url.into())
    }

    /// A builder for a cluster, from its seed nodes' URLs.
    ///
    /// ```
    /// let builder = idem_redis::RedisStore::cluster_builder(["redis://127.0.0.1:7000"]);
    /// # let _ = builder;
    /// ```
    pub fn cluster_builder<I, U>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        RedisStoreBuilder::cluster(urls.into_iter().map(Into::into).collect())
    }

    pub(crate) fn from_parts(conn: Conn, settings: Arc<Settings>) -> Self {
        RedisStore { conn, settings }
    }

    /// The server as errors name it: `redis host:port`, or `redis cluster
    /// host:port (+n seeds)`. Never a password.
    pub fn server(&self) -> &str {
        &self.settings.server
    }

    /// The Redis key of a storage key: the prefix, then the key.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_redis::ConnectError> {
    /// let store = idem_redis::RedisStore::builder("redis://127.0.0.1:6379").key_prefix("idem:").connect().await?;
    /// assert_eq!(store.redis_key("billing::charge#00ff"), "idem:billing::charge#00ff");
    /// # Ok(())
    /// # }
    /// ```
    pub fn redis_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        if self.settings.key_prefix.is_empty() {
            Cow::Borrowed(key)
        } else {
            Cow::Owned(format!("{}{key}", self.settings.key_prefix))
        }
    }

    fn fail(&self, operation: &str, redis_key: &str, err: RedisError) -> StoreError {
        if is_wrong_type(&err) {
            return corrupt(
                &self.settings.server,
                redis_key,
                "it holds another type than a hash (a Powertools record is a string)",
            );
        }
        backend(operation, &self.settings.server, err)
    }

    /// Sends one script call, again (the same call, the same token) while
    /// the connection fails or the server asks to wait, up to `attempts`.
    async fn invoke(
        &self,
        operation: &'static str,
        redis_key: &str,
        call: &ScriptInvocation<'_>,
    ) -> Result<Value, StoreError> {
        let mut attempt = 1;
        loop {
            let mut conn = self.conn.clone();
            match call.invoke_async::<Value>(&mut conn).await {
                Ok(value) => return Ok(value),
                Err(err) if attempt < self.settings.attempts && is_transient(&err) => {
                    self.pause(operation, attempt, &err).await;
                    attempt += 1;
                }
                Err(err) => return Err(self.fail(operation, redis_key, err)),
            }
        }
    }

    /// [`invoke`](Self::invoke) for a plain command.
    async fn query(
        &self,
        operation: &'static str,
        redis_key: &str,
        cmd: &redis::Cmd,
    ) -> Result<Value, StoreError> {
        let mut attempt = 1;
        loop {
            let mut conn = self.conn.clone();
            match cmd.query_async::<Value>(&mut conn).await {
                Ok(value) => return Ok(value),
                Err(err) if attempt < self.settings.attempts && is_transient(&err) => {
                    self.pause(operation, attempt, &err).await;
                    attempt += 1;
                }
                Err(err) => return Err(self.fail(operation, redis_key, err)),
            }
        }
    }

    async fn pause(&self, operation: &str, attempt: u32, err: &RedisError) {
        tracing::debug!(
            operation,
            server = %self.settings.server,
            attempt,
            error = %err,
            "redis command failed; sending it again"
        );
        let factor = 1u32 << (attempt - 1).min(6);
        tokio::time::sleep(self.settings.retry_delay * factor).await;
    }

    /// A fenced script's reply: 1 done, 0 the lease is lost.
    fn fenced(&self, operation: &str, reply: Value) -> Result<(), StoreError> {
        match reply {
            Value::Int(1) => Ok(()),
            Value::Int(0) => Err(StoreError::LeaseLost),
            other => Err(unexpected(
                operation,
                &self.settings.server,
                format!("the script returned {}", record::kind(&other)),
            )),
        }
    }

    async fn claim_inner(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        const OP: &str = "EVALSHA claim";
        let redis_key = self.redis_key(request.key);
        let mut call = self.settings.scripts.claim.key(redis_key.as_ref());
        call.arg(request.now_ms)
            .arg(request.token.to_string())
            .arg(request.lease_until_ms)
            .arg(request.expires_at_s)
            .arg(request.fingerprint.map_or("", |f| f.as_str()));
        let reply = self.invoke(OP, &redis_key, &call).await?;
        let server = &self.settings.server;
        let Value::Array(mut items) = reply else {
            let what = format!("the script returned {}", record::kind(&reply));
            return Err(unexpected(OP, server, what));
        };
        match items.first() {
            Some(Value::Int(1)) if items.len() == 1 => Ok(Claim::Acquired(Lease::new(
                request.token,
                request.lease_until_ms,
            ))),
            Some(Value::Int(0)) if items.len() == 1 + FIELDS.len() => {
                items.remove(0);
                let origin = Origin {
                    server,
                    redis_key: &redis_key,
                };
                match record::parse(&origin, request.key, items)? {
                    Some(record) => Ok(Claim::Existing(Arc::new(record))),
                    None => Err(corrupt(server, &redis_key, "a hash without idem's fields")),
                }
            }
            _ => Err(unexpected(
                OP,
                server,
                "the script returned an unexpected array".into(),
            )),
        }
    }

    async fn complete_inner(&self, completion: Completion<'_>) -> Result<(), StoreError> {
        const OP: &str = "EVALSHA complete";
        if let Some(data) = completion.data {
            if data.len() > self.settings.max_data_bytes {
                return Err(StoreError::TooLarge {
                    size: data.len(),
                    limit: self.settings.max_data_bytes,
                });
            }
        }
        let redis_key = self.redis_key(completion.key);
        let mut call = self.settings.scripts.complete.key(redis_key.as_ref());
        call.arg(completion.lease.token_text())
            .arg(completion.expires_at_s)
            .arg(if completion.data.is_some() { "1" } else { "0" })
            .arg(completion.data.unwrap_or(""))
            .arg(completion.fingerprint.map_or("", |f| f.as_str()));
        let reply = self.invoke(OP, &redis_key, &call).await?;
        self.fenced(OP, reply)
    }

    async fn release_inner(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        const OP: &str = "EVALSHA release";
        let redis_key = self.redis_key(key);
        let mut call = self.settings.scripts.release.key(redis_key.as_ref());
        call.arg(lease.token_text());
        let reply = self.invoke(OP, &redis_key, &call).await?;
        self.fenced(OP, reply)
    }

    async fn extend_inner(
        &self,
        key: &str,
        lease: &Lease,
        until_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "EVALSHA extend";
        let redis_key = self.redis_key(key);
        let mut call = self.settings.scripts.extend.key(redis_key.as_ref());
        call.arg(lease.token_text()).arg(until_ms);
        let reply = self.invoke(OP, &redis_key, &call).await?;
        self.fenced(OP, reply)
    }

    async fn get_inner(&self, key: &str, now_ms: u64) -> Result<Option<Record>, StoreError> {
        const OP: &str = "HMGET";
        let redis_key = self.redis_key(key);
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(redis_key.as_ref()).arg(&FIELDS[..]);
        let reply = self.query(OP, &redis_key, &cmd).await?;
        let server = &self.settings.server;
        let Value::Array(items) = reply else {
            let what = format!("the server returned {}", record::kind(&reply));
            return Err(unexpected(OP, server, what));
        };
        let origin = Origin {
            server,
            redis_key: &redis_key,
        };
        // The server's TTL evicts on its own clock; a record past its expiry
        // on the caller's clock counts as absent already.
        let record = record::parse(&origin, key, items)?;
        Ok(record.filter(|r| !r.is_expired(now_ms)))
    }

    async fn delete_inner(&self, key: &str) -> Result<(), StoreError> {
        let redis_key = self.redis_key(key);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(redis_key.as_ref());
        self.query("DEL", &redis_key, &cmd).await.map(|_| ())
    }
}

impl Store for RedisStore {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(self.claim_inner(request))
    }

    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(self.complete_inner(completion))
    }

    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(self.release_inner(key, lease))
    }

    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        Box::pin(self.extend_inner(key, lease, until_ms))
    }

    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        Box::pin(self.get_inner(key, now_ms))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_inner(key))
    }

    /// A clone (the connection is a shared, multiplexed handle), so the
    /// claim of a call whose future was dropped mid-body is released by a
    /// task of the runtime.
    fn detach(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::new(self.clone()))
    }

    /// Just under Redis's 512 MiB bulk-string limit unless set lower with
    /// [`RedisStoreBuilder::max_data_bytes`].
    fn max_data_bytes(&self) -> Option<usize> {
        Some(self.settings.max_data_bytes)
    }
}
