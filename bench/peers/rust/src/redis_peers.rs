//! The two Rust peers on Redis: the raw `redis` crate limit (the very
//! scripts `RedisStore` sends, nothing around them) and idem on
//! `RedisStore`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use idem_core::store::{Claim, ClaimRequest, Completion, Lease, Record, StoreFuture};
use idem_core::{idempotent, Store};
use idem_redis::RedisStore;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use crate::client::CallCounter;
use crate::peers::{charge_body, now_ms, CallError, Order, Receipt, LEASE_MS, TTL_S};

/// Only what an idempotency layer must send to Redis: the claim script
/// (returning the record when the key is taken), the body, then the
/// complete script fenced by the token. The same Lua as `RedisStore`'s, on
/// the same kind of connection (`ConnectionManager`), with the same
/// arguments; no key hashing, no record type, no error mapping, no retries.
#[derive(Debug)]
pub(crate) struct RawRedis {
    conn: ConnectionManager,
    prefix: String,
    claim: Script,
    complete: Script,
    effects: AtomicU64,
    tokens: AtomicU64,
    counter: CallCounter,
}

impl RawRedis {
    pub(crate) async fn new(url: &str, prefix: &str, counter: CallCounter) -> anyhow::Result<Self> {
        let conn = ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(RawRedis {
            conn,
            prefix: prefix.to_owned(),
            claim: Script::new(include_str!("../../../../idem-redis/src/scripts/claim.lua")),
            complete: Script::new(include_str!(
                "../../../../idem-redis/src/scripts/complete.lua"
            )),
            effects: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            counter,
        })
    }

    pub(crate) fn effects(&self) -> u64 {
        self.effects.load(Ordering::Relaxed)
    }

    pub(crate) async fn call(&self, order: &Order, delay: Duration) -> Result<Receipt, CallError> {
        let key = format!("{}raw#{}", self.prefix, order.order_id);
        let now_ms = now_ms();
        let token = format!(
            "{:016x}{:016x}",
            std::process::id(),
            self.tokens.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = self.conn.clone();
        self.counter.add();
        let reply: Value = self
            .claim
            .key(&key)
            .arg(now_ms)
            .arg(&token)
            .arg(now_ms + LEASE_MS)
            .arg(now_ms / 1000 + TTL_S)
            .arg("")
            .invoke_async(&mut conn)
            .await
            .map_err(|e| anyhow!("EVALSHA claim: {e}"))?;
        let Value::Array(items) = reply else {
            return Err(anyhow!("claim returned {reply:?}").into());
        };
        match items.first() {
            Some(Value::Int(1)) => {
                let receipt = charge_body(order, &self.effects, delay).await;
                let data = serde_json::to_string(&receipt).map_err(anyhow::Error::from)?;
                self.counter.add();
                let done: i64 = self
                    .complete
                    .key(&key)
                    .arg(&token)
                    .arg(now_ms / 1000 + TTL_S)
                    .arg("1")
                    .arg(data)
                    .arg("")
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| anyhow!("EVALSHA complete: {e}"))?;
                if done != 1 {
                    return Err(anyhow!("the lease was lost").into());
                }
                Ok(receipt)
            }
            Some(Value::Int(0)) => match (items.get(1), items.get(6)) {
                (Some(Value::BulkString(s)), Some(Value::BulkString(data)))
                    if s.as_slice() == b"COMPLETED" =>
                {
                    Ok(serde_json::from_slice(data).map_err(anyhow::Error::from)?)
                }
                (Some(Value::BulkString(s)), _) if s.as_slice() == b"INPROGRESS" => {
                    Err(CallError::InProgress)
                }
                other => Err(anyhow!("unexpected record {other:?}").into()),
            },
            other => Err(anyhow!("unexpected claim reply {other:?}").into()),
        }
    }
}

/// `RedisStore`, counting the store calls the engine makes (each is one
/// round trip). Nothing else: every method forwards.
#[derive(Debug)]
pub(crate) struct CountedRedis {
    store: RedisStore,
    counter: CallCounter,
}

impl Store for CountedRedis {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        self.counter.add();
        self.store.claim(request)
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        self.counter.add();
        self.store.complete(completion)
    }
    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        self.counter.add();
        self.store.release(key, lease)
    }
    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        self.counter.add();
        self.store.extend(key, lease, until_ms)
    }
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        self.counter.add();
        self.store.get(key, now_ms)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        self.counter.add();
        self.store.delete(key)
    }
    fn max_data_bytes(&self) -> Option<usize> {
        self.store.max_data_bytes()
    }
}

/// idem as a user writes it, over `RedisStore` (no `Cached` layer).
#[derive(Debug)]
pub(crate) struct IdemRedis {
    store: CountedRedis,
    effects: AtomicU64,
}

#[idempotent(key = "order.order_id", store = store, name = "bench::charge")]
async fn charge(
    order: &Order,
    store: &CountedRedis,
    effects: &AtomicU64,
    delay: Duration,
) -> Result<Receipt, anyhow::Error> {
    Ok(charge_body(order, effects, delay).await)
}

impl IdemRedis {
    pub(crate) async fn new(url: &str, prefix: &str, counter: CallCounter) -> anyhow::Result<Self> {
        let store = RedisStore::builder(url)
            .key_prefix(prefix)
            .connect()
            .await?;
        Ok(IdemRedis {
            store: CountedRedis { store, counter },
            effects: AtomicU64::new(0),
        })
    }

    pub(crate) fn effects(&self) -> u64 {
        self.effects.load(Ordering::Relaxed)
    }

    pub(crate) async fn call(&self, order: &Order, delay: Duration) -> Result<Receipt, CallError> {
        charge(order, &self.store, &self.effects, delay)
            .await
            .map_err(|e| match e.downcast_ref::<idem_core::Error>() {
                Some(idem_core::Error::InProgress { .. }) => CallError::InProgress,
                _ => CallError::Other(e),
            })
    }
}

/// Builds a Redis peer by name.
pub(crate) async fn peer(
    name: &str,
    url: &str,
    prefix: &str,
    counter: CallCounter,
) -> anyhow::Result<crate::peers::Peer> {
    use crate::peers::Peer;
    Ok(match name {
        "raw" => Peer::RawRedis(RawRedis::new(url, prefix, counter).await?),
        "idem" => Peer::IdemRedis(IdemRedis::new(url, prefix, counter).await?),
        other => bail!("unknown Rust peer `{other}` (raw, idem)"),
    })
}
