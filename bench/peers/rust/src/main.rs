//! Rust side of the peer comparison that `bench/peers/run.sh` drives: the raw
//! `aws-sdk-dynamodb` limit and idem with `DynamoStore`, against one
//! DynamoDB Local.
//!
//! ```text
//! idem-peer-bench setup TABLE...   create the tables (PK `id` S, on demand)
//! idem-peer-bench run              run one slice; settings from BENCH_* (see workload.rs)
//! idem-peer-bench batch            one slice of SQS batches (PEER_MODE=batch, see batch.rs)
//! idem-peer-bench capacity         the capacity steps through capacity_proxy.py (see capacity.rs)
//! ```
//!
//! With `BENCH_STORE=redis`, `BENCH_ENDPOINT` is a Redis URL and
//! `BENCH_TABLE` the peer's key prefix (`bench/peers/run-redis.sh`).
//!
//! `run` prints one JSON line on stdout; the Python and TypeScript harnesses
//! print the same fields, and `report.py` turns them into the table.

mod batch;
mod capacity;
mod client;
mod peers;
mod redis_peers;
mod workload;

use anyhow::{bail, Context as _};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // One thread, like Node's event loop and Powertools Python under the
    // GIL: concurrency 16 is 16 tasks, and CPU per operation is comparable.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("setup") => runtime.block_on(setup(&args[1..])),
        Some("run") => runtime.block_on(run()),
        Some("batch") => runtime.block_on(run_batch()),
        Some("capacity") => runtime.block_on(async {
            println!("{}", capacity::run().await?);
            Ok(())
        }),
        _ => bail!("usage: idem-peer-bench setup TABLE... | idem-peer-bench run | batch | capacity (settings in BENCH_* variables)"),
    }
}

async fn setup(tables: &[String]) -> anyhow::Result<()> {
    let endpoint = workload::env_var("BENCH_ENDPOINT")?;
    let client = client::dynamodb(&endpoint, None).await;
    for table in tables {
        client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .with_context(|| format!("CreateTable {table} at {endpoint}"))?;
    }
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let settings = workload::Settings::from_env()?;
    let counter = client::CallCounter::default();
    if std::env::var("BENCH_STORE").as_deref() == Ok("redis") {
        let prefix = format!("{}:", settings.table);
        let peer =
            redis_peers::peer(&settings.peer, &settings.endpoint, &prefix, counter.clone()).await?;
        let report = workload::run(&settings, peer, &counter).await?;
        println!("{report}");
        return Ok(());
    }
    let client = client::dynamodb(&settings.endpoint, Some(counter.clone())).await;
    let peer = peers::Peer::new(&settings.peer, client, &settings.table)?;
    let report = workload::run(&settings, peer, &counter).await?;
    println!("{report}");
    Ok(())
}

async fn run_batch() -> anyhow::Result<()> {
    let endpoint = workload::env_var("BENCH_ENDPOINT")?;
    let mode = workload::env_var("BENCH_PEER")?;
    let table = workload::env_var("BENCH_TABLE")?;
    let peer_kind = if mode == "raw-concurrent" {
        "raw"
    } else {
        "idem"
    };
    let client = client::dynamodb(&endpoint, None).await;
    let peer = peers::Peer::new(peer_kind, client, &table)?;
    println!("{}", batch::run(peer, &mode).await?);
    Ok(())
}
