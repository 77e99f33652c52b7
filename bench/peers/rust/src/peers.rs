//! The two Rust peers: the raw SDK limit and idem on `DynamoStore` (the
//! Redis ones are in `redis_peers.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use idem_core::idempotent;
use idem_dynamo::DynamoStore;
use serde::{Deserialize, Serialize};

/// Replay window, as idem's and Powertools' default (1 h).
pub(crate) const TTL_S: u64 = 3600;
/// Claim lease, as idem's default and the 5 min remaining time the Python
/// and TypeScript harnesses report to Powertools.
pub(crate) const LEASE_MS: u64 = 300_000;
/// The condition DynamoStore claims under (absent, expired, or in progress
/// with a lapsed lease), so the limit asks the server for the same work.
const CLAIMABLE: &str = "attribute_not_exists(#id) OR #exp <= :now_s \
     OR (#status = :inprogress AND (attribute_not_exists(#ipexp) OR #ipexp <= :now_ms))";

/// The payload of `bench/peers/payload.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Order {
    pub(crate) order_id: String,
    customer_id: String,
    currency: String,
    amount_cents: u64,
    items: Vec<LineItem>,
    shipping: Address,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LineItem {
    sku: String,
    qty: u32,
    price_cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Address {
    name: String,
    street: String,
    city: String,
    postcode: String,
    country: String,
}

/// What every peer's body returns and replays (same fields in Python and
/// TypeScript, so every peer stores the same `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    order_id: String,
    receipt_id: String,
    amount_cents: u64,
    status: String,
}

/// How a call ended when it did not return a receipt.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Another delivery of the key holds the claim.
    InProgress,
    Other(anyhow::Error),
}

impl From<anyhow::Error> for CallError {
    fn from(e: anyhow::Error) -> Self {
        CallError::Other(e)
    }
}

/// The side effect: counted, so duplicates that ran it show up.
pub(crate) async fn charge_body(order: &Order, effects: &AtomicU64, delay: Duration) -> Receipt {
    effects.fetch_add(1, Ordering::Relaxed);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Receipt {
        order_id: order.order_id.clone(),
        receipt_id: format!("rcpt-{}", order.order_id),
        amount_cents: order.amount_cents,
        status: "charged".to_owned(),
    }
}

#[derive(Debug)]
pub(crate) enum Peer {
    Raw(Raw),
    Idem(IdemPeer),
    RawRedis(crate::redis_peers::RawRedis),
    IdemRedis(crate::redis_peers::IdemRedis),
}

impl Peer {
    pub(crate) fn new(name: &str, client: Client, table: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "raw" => Peer::Raw(Raw {
                client,
                table: table.to_owned(),
                effects: AtomicU64::new(0),
                tokens: AtomicU64::new(0),
            }),
            "idem" => Peer::Idem(IdemPeer {
                store: DynamoStore::new(client, table),
                effects: AtomicU64::new(0),
            }),
            other => bail!("unknown Rust peer `{other}` (raw, idem)"),
        })
    }

    pub(crate) async fn call(&self, order: &Order, delay: Duration) -> Result<Receipt, CallError> {
        match self {
            Peer::Raw(raw) => raw.call(order, delay).await,
            Peer::Idem(idem) => idem.call(order, delay).await,
            Peer::RawRedis(raw) => raw.call(order, delay).await,
            Peer::IdemRedis(idem) => idem.call(order, delay).await,
        }
    }

    /// How the peer reaches the store, for the table's first column.
    pub(crate) fn api(&self) -> &'static str {
        match self {
            Peer::Raw(_) => "aws-sdk-dynamodb calls",
            Peer::RawRedis(_) => "redis crate EVALSHA calls",
            Peer::Idem(_) | Peer::IdemRedis(_) => IDEM_API,
        }
    }

    pub(crate) fn effects(&self) -> u64 {
        match self {
            Peer::Raw(raw) => raw.effects.load(Ordering::Relaxed),
            Peer::Idem(idem) => idem.effects.load(Ordering::Relaxed),
            Peer::RawRedis(raw) => raw.effects(),
            Peer::IdemRedis(idem) => idem.effects(),
        }
    }
}

/// Only what an idempotency layer must send: a conditional PutItem that
/// returns the old item on failure, then an UpdateItem fenced by the lease
/// token. No key hashing, no record type, no error mapping.
#[derive(Debug)]
pub(crate) struct Raw {
    client: Client,
    table: String,
    effects: AtomicU64,
    tokens: AtomicU64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Raw {
    async fn call(&self, order: &Order, delay: Duration) -> Result<Receipt, CallError> {
        let id = format!("raw#{}", order.order_id);
        let now_ms = now_ms();
        let token = format!(
            "{}-{}",
            std::process::id(),
            self.tokens.fetch_add(1, Ordering::Relaxed)
        );
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", s(id.clone()))
            .item("expiration", n(now_ms / 1000 + TTL_S))
            .item("in_progress_expiration", n(now_ms + LEASE_MS))
            .item("status", s("INPROGRESS"))
            .item("lease_token", s(token.clone()))
            .condition_expression(CLAIMABLE)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#exp", "expiration")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ipexp", "in_progress_expiration")
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match claim {
            Ok(_) => {
                let receipt = charge_body(order, &self.effects, delay).await;
                let data = serde_json::to_string(&receipt).map_err(anyhow::Error::from)?;
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("id", s(id))
                    .update_expression(
                        "SET #status = :completed, #exp = :exp, #data = :data REMOVE #ipexp, #tok",
                    )
                    .condition_expression("#tok = :tok")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#exp", "expiration")
                    .expression_attribute_names("#data", "data")
                    .expression_attribute_names("#ipexp", "in_progress_expiration")
                    .expression_attribute_names("#tok", "lease_token")
                    .expression_attribute_values(":completed", s("COMPLETED"))
                    .expression_attribute_values(":exp", n(now_ms / 1000 + TTL_S))
                    .expression_attribute_values(":data", s(data))
                    .expression_attribute_values(":tok", s(token))
                    .send()
                    .await
                    .map_err(|e| anyhow!("UpdateItem: {e:?}"))?;
                return Ok(receipt);
            }
            Err(err) => err,
        };
        let old = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => failed.item(),
            _ => return Err(anyhow!("PutItem: {err:?}").into()),
        };
        let old = old.ok_or_else(|| anyhow!("PutItem failed its condition without ALL_OLD"))?;
        let field = |name: &str| old.get(name).and_then(|v| v.as_s().ok());
        match field("status").map(String::as_str) {
            Some("COMPLETED") => {
                let data = field("data").ok_or_else(|| anyhow!("completed record without data"))?;
                Ok(serde_json::from_str(data).map_err(anyhow::Error::from)?)
            }
            Some("INPROGRESS") => Err(CallError::InProgress),
            other => Err(anyhow!("unexpected status {other:?}").into()),
        }
    }
}

const IDEM_API: &str = "#[idempotent]";

/// idem as a user writes it: the attribute on the body, so the whole engine
/// (key hashing, record decoding, lease, error mapping, span) runs over
/// `DynamoStore`, without the `Cached` layer.
#[derive(Debug)]
pub(crate) struct IdemPeer {
    store: DynamoStore,
    effects: AtomicU64,
}

#[idempotent(key = "order.order_id", store = store, name = "bench::charge")]
async fn charge(
    order: &Order,
    store: &DynamoStore,
    effects: &AtomicU64,
    delay: Duration,
) -> Result<Receipt, anyhow::Error> {
    Ok(charge_body(order, effects, delay).await)
}

impl IdemPeer {
    async fn call(&self, order: &Order, delay: Duration) -> Result<Receipt, CallError> {
        charge(order, &self.store, &self.effects, delay)
            .await
            .map_err(|e| match e.downcast_ref::<idem_core::Error>() {
                Some(idem_core::Error::InProgress { .. }) => CallError::InProgress,
                _ => CallError::Other(e),
            })
    }
}
