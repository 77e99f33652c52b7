//! # idem-redis
//!
//! [`RedisStore`]: idem's [`Store`](idem_core::Store) on Redis or Valkey
//! (7 or newer; ElastiCache and MemoryDB included), single node or cluster,
//! so every instance of a function shares one record per key.
//!
//! ```no_run
//! use idem_core::{Cached, Idempotent};
//! use idem_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! // Once per process (outside the handler): connects.
//! let store = Cached::new(RedisStore::connect("redis://127.0.0.1:6379").await?, 10_000);
//!
//! // Per event:
//! let total: u64 = Idempotent::new("shop::checkout")
//!     .store(&store)
//!     .key("cart_id", "cart-7")
//!     .run(|| async { Ok::<_, anyhow::Error>(4200) })
//!     .await?;
//! # let _ = total;
//! # Ok(())
//! # }
//! ```
//!
//! ## Record layout
//!
//! One record is one **hash** at the key `{prefix}{namespace}#{digest}`
//! (no prefix by default), with Powertools' field names:
//!
//! | field | holds |
//! |---|---|
//! | `status` | `INPROGRESS` or `COMPLETED` |
//! | `expiration` | expiry, unix **seconds**; also the key's server TTL (`EXPIREAT`) |
//! | `in_progress_expiration` | end of the lease, unix **milliseconds** |
//! | `lease_token` | ours: the claim's token (32 hex digits); fences late writes, and stays on the completed record |
//! | `validation` | the payload fingerprint, if `validate` is used |
//! | `data` | the result as JSON (absent if it was too large) |
//!
//! A record past `expiration` on the caller's clock counts as absent even
//! if the server has not evicted it yet (clocks differ; eviction is lazy).
//!
//! **Powertools.** Powertools' Redis persistence layer (Python) keeps the
//! same fields as a JSON *string* per key, written with `SET NX` and
//! overwritten with a second `SET` under a `{key}:lock` key. We keep a hash
//! instead: each step is one Lua script that must read and change the
//! record atomically, and a script that decoded and re-encoded a JSON
//! string would rewrite the saved result (cjson's number formatting, a
//! second layer of escaping) on every step; a hash lets `complete` write
//! `data` verbatim and `extend` touch one field. A keyspace can still be
//! shared: Powertools' keys (`function#md5`, `…:lock`) never collide with
//! ours, and a key holding a string is reported as
//! [`StoreError::Corrupt`](idem_core::StoreError::Corrupt), never
//! overwritten. A Powertools record is not read as an idem one.
//!
//! ## Steps
//!
//! Each step is one Lua script (`EVALSHA`, loaded again after `NOSCRIPT`),
//! fenced by the engine's lease token like
//! [`DynamoStore`](https://docs.rs/idem-dynamo)'s conditions:
//!
//! | step | succeeds when | round trips |
//! |---|---|---|
//! | `claim` | absent, expired, in progress with a lapsed lease, or in progress under the request's own token; else returns the record | 1 |
//! | `complete` | in progress under the token (already completed under it: `Ok`, nothing changes) | 1 |
//! | `release` | in progress under the token (deleted), or nothing there | 1 |
//! | `extend` | in progress under the token | 1 |
//!
//! A first call costs 2 round trips, a duplicate 1, a failed body 2, a
//! duplicate through [`Cached`](idem_core::Cached) none. Anything else
//! another run holds is [`StoreError::LeaseLost`](idem_core::StoreError::LeaseLost).
//!
//! ## Cluster
//!
//! [`RedisStore::connect_cluster`] takes the seed nodes. One record is one
//! key, so each script runs on the node that owns the key's slot; the
//! client follows `MOVED`/`ASK` redirections and refreshes its slot map.
//! Do not put a hash tag (`{…}`) in the key prefix: it would pin every
//! record to one slot.
//!
//! ## TLS, ElastiCache, MemoryDB
//!
//! With the cargo feature **`tls`**, `rediss://` URLs connect over TLS
//! (rustls, the system's root certificates, or one CA of yours with
//! `RedisStoreBuilder::tls_root_certificate`). ElastiCache with in-transit
//! encryption and MemoryDB (always TLS) need it. Cluster-mode ElastiCache
//! and MemoryDB: give the configuration endpoint to
//! [`RedisStore::connect_cluster`]. With AUTH or ACL users, put them in the
//! URL (`rediss://user:password@host:6379`); the URL is never logged or
//! shown in errors. Scripts need `EVALSHA`, `SCRIPT LOAD` and `HMGET`,
//! `HSET`, `HDEL`, `DEL`, `EXISTS`, `EXPIREAT` on the keys (ACL `+@scripting
//! +@hash +del +exists +expireat`). Serverless ElastiCache is a cluster.
//!
//! ## Retries and unknown outcomes
//!
//! A script may be applied and its reply lost (a reset, a timeout, a
//! failover). The store then sends the **same** call again — same key,
//! same token — up to [`attempts`](RedisStoreBuilder::attempts) times (4 by
//! default, with a doubling pause), on I/O errors, timeouts, dropped
//! connections and the server's wait replies (`LOADING`, `TRYAGAIN`,
//! `CLUSTERDOWN`, `MASTERDOWN`, `READONLY`, `BUSY`, `MOVED`/`ASK` the client
//! could not follow). The token rules make the retry's answer right: a
//! retried claim finds its own claim and has acquired, a retried complete
//! finds the record completed under its token, a retried release finds
//! nothing. [`ConnectionManager`](redis::aio::ConnectionManager) reconnects
//! in the background meanwhile.
//!
//! ## Errors
//!
//! Client errors become [`StoreError::Backend`](idem_core::StoreError::Backend)
//! whose Display names the step and server ("EVALSHA claim on redis
//! 127.0.0.1:6379 failed") and whose source, a [`RedisFailure`], says why,
//! once. A record that cannot be read (unknown status, missing field,
//! another type at the key) is [`StoreError::Corrupt`](idem_core::StoreError::Corrupt)
//! naming the server, key and field. Errors and logs never contain saved
//! results or payloads.
//!
//! ## Why the `redis` crate
//!
//! `redis` (redis-rs) has everything this store needs in one maintained
//! crate: [`Script`](redis::Script) (`EVALSHA` with `NOSCRIPT` reload), a
//! multiplexed, reconnecting `ConnectionManager`, the async cluster client
//! (slot map, `MOVED`/`ASK`), rustls TLS, and it works on Valkey. `fred`
//! covers the same ground with a larger API and more dependencies; the
//! smaller surface won.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod connect;
mod error;
mod record;
mod scripts;
mod store;

pub use config::RedisStoreBuilder;
pub use error::{ConnectError, RedisFailure};
pub use store::RedisStore;
