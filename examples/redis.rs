//! idem on Redis or Valkey: the same order delivered three times by three
//! instances (three connections) is charged once.
//!
//! Against the local servers of the test suite:
//!
//! ```sh
//! eval "$(scripts/redis.sh start)"   # exports IDEM_REDIS_URL and IDEM_REDIS_CLUSTER_URLS
//! cargo run -p idem-examples --bin redis
//! ```
//!
//! `IDEM_REDIS_URL` (default `redis://127.0.0.1:6379`) names one node; set
//! `IDEM_REDIS_CLUSTER_URLS` (comma-separated seeds) to use a cluster
//! instead. `rediss://` URLs need idem-redis's `tls` feature.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use idem_core::{Error, Idempotent};
use idem_redis::RedisStore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    order_id: String,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    order_id: String,
    charge_id: String,
}

/// Counts real charges, standing in for a payment provider.
static CHARGES: AtomicUsize = AtomicUsize::new(0);

/// What `#[idempotent(key = "order.order_id", ttl = "48h", validate = "order", in_progress = "wait")]`
/// expands to.
async fn charge(store: &RedisStore, order: &Order) -> anyhow::Result<Receipt> {
    Idempotent::new("examples::redis::charge")
        .ttl(Duration::from_secs(48 * 3600))
        .store(store)
        .in_progress(idem_core::InProgress::Wait(None))
        .key("order.order_id", &order.order_id)
        .validate(order)
        .run(|| async {
            let n = CHARGES.fetch_add(1, Ordering::SeqCst) + 1;
            // The charge takes a moment, so the other deliveries overlap it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Receipt {
                order_id: order.order_id.clone(),
                charge_id: format!("ch_{n}"),
            })
        })
        .await
}

/// One store (connection) per simulated instance.
async fn connect() -> anyhow::Result<RedisStore> {
    let store = match std::env::var("IDEM_REDIS_CLUSTER_URLS") {
        Ok(urls) if !urls.is_empty() => RedisStore::connect_cluster(urls.split(',')).await?,
        _ => {
            let url = std::env::var("IDEM_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
            RedisStore::connect(url).await?
        }
    };
    Ok(store)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let instances = [connect().await?, connect().await?, connect().await?];
    println!("store: {}", instances[0].server());
    let order = Order {
        order_id: format!("ord-{}", std::process::id()),
        amount_cents: 1250,
    };
    // Three deliveries at once, one per instance.
    let (a, b, c) = tokio::join!(
        charge(&instances[0], &order),
        charge(&instances[1], &order),
        charge(&instances[2], &order),
    );
    for (delivery, receipt) in [a?, b?, c?].iter().enumerate() {
        println!(
            "delivery {}: {} charged as {}",
            delivery + 1,
            receipt.order_id,
            receipt.charge_id
        );
    }
    println!("charges made: {}", CHARGES.load(Ordering::SeqCst));

    // A duplicate with another payload is refused, not replayed.
    let tampered = Order {
        amount_cents: 99_999,
        ..order
    };
    match charge(&instances[0], &tampered).await {
        Err(e)
            if matches!(
                e.downcast_ref::<Error>(),
                Some(Error::PayloadMismatch { .. })
            ) =>
        {
            println!("tampered duplicate: {e}")
        }
        Err(e) => return Err(e),
        Ok(r) => anyhow::bail!("a tampered duplicate was answered: {r:?}"),
    }
    anyhow::ensure!(
        CHARGES.load(Ordering::SeqCst) == 1,
        "charged more than once"
    );
    Ok(())
}
