//! idem on DynamoDB: the same order delivered three times is charged once.
//!
//! Against DynamoDB Local (the table is created if missing):
//!
//! ```sh
//! eval "$(scripts/dynamodb-local.sh start)"   # exports IDEM_DYNAMODB_ENDPOINT
//! cargo run -p idem-examples --bin dynamodb
//! ```
//!
//! Against AWS, with the default credential chain and region, on an existing
//! table (`IDEM_TABLE`, default `idempotency`):
//!
//! ```sh
//! AWS_PROFILE=dev IDEM_TABLE=idempotency cargo run -p idem-examples --bin dynamodb
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use idem_core::{Cached, Idempotent};
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

/// What `#[idempotent(key = "order.order_id", ttl = "48h", validate = "order")]`
/// expands to.
async fn charge(store: &impl idem_core::Store, order: &Order) -> anyhow::Result<Receipt> {
    Idempotent::new("examples::dynamodb::charge")
        .ttl(std::time::Duration::from_secs(48 * 3600))
        .store(store)
        .key("order.order_id", &order.order_id)
        .validate(order)
        .run(|| async {
            let n = CHARGES.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Receipt {
                order_id: order.order_id.clone(),
                charge_id: format!("ch_{n}"),
            })
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = idem_examples::dynamo_store_from_env().await;
    if std::env::var_os("IDEM_DYNAMODB_ENDPOINT").is_some() {
        store.create_table_if_missing().await?;
    }
    println!("table `{}`", store.table());

    // One instance of the function, with a local cache of completed records.
    let store = Cached::new(store, 10_000);
    let order = Order {
        order_id: format!("ord-{}", std::process::id()),
        amount_cents: 1250,
    };
    for delivery in 1..=3 {
        let receipt = charge(&store, &order).await?;
        println!(
            "delivery {delivery}: {} charged as {}",
            receipt.order_id, receipt.charge_id
        );
    }
    println!("charges made: {}", CHARGES.load(Ordering::SeqCst));

    // A duplicate with another payload is refused, not replayed.
    let tampered = Order {
        amount_cents: 99_999,
        ..order
    };
    match charge(&store, &tampered).await {
        Err(e) => println!("tampered duplicate: {e}"),
        Ok(r) => anyhow::bail!("a tampered duplicate was answered: {r:?}"),
    }
    anyhow::ensure!(
        CHARGES.load(Ordering::SeqCst) == 1,
        "charged more than once"
    );
    Ok(())
}
