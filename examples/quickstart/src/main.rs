//! Quickstart: a queue delivers payment events at least once; `#[idempotent]`
//! makes sure every order is charged exactly once.
//!
//! ```text
//! cargo run -p idem-quickstart
//! ```
//!
//! The simulated queue delivers every event, plus duplicates: some at the
//! same moment as the original (concurrent), some after it completed, and
//! it redelivers whatever failed or was still in progress, as SQS does after
//! the visibility timeout. One charge fails once at the payment provider, so
//! its claim is released and the redelivery charges it.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idem_core::{idempotent, MemoryStore};
use serde::{Deserialize, Serialize};

/// A payment event as it arrives from the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaymentEvent {
    pub(crate) order_id: String,
    pub(crate) amount_cents: u64,
}

/// What a charge returns; saved, and replayed to duplicates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Receipt {
    pub(crate) charge_id: String,
    pub(crate) amount_cents: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChargeError {
    #[error("payment provider timed out")]
    GatewayTimeout,
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
}

/// A fake payment provider that counts the charges it really makes.
#[derive(Default)]
pub(crate) struct PaymentProvider {
    charges: Mutex<HashMap<String, u32>>,
    flaky_order: Option<String>,
    failed_once: Mutex<bool>,
}

impl PaymentProvider {
    async fn charge(&self, order_id: &str, amount_cents: u64) -> Result<Receipt, ChargeError> {
        // A network call: long enough for concurrent duplicates to overlap.
        tokio::time::sleep(Duration::from_millis(40)).await;
        if self.flaky_order.as_deref() == Some(order_id) {
            let mut failed = self.failed_once.lock().expect("not poisoned");
            if !*failed {
                *failed = true;
                return Err(ChargeError::GatewayTimeout);
            }
        }
        let mut charges = self.charges.lock().expect("not poisoned");
        let n = charges.entry(order_id.to_owned()).or_default();
        *n += 1;
        Ok(Receipt {
            charge_id: format!("ch_{order_id}_{n}"),
            amount_cents,
        })
    }
}

/// The guarded function: one charge per `order_id`, whatever the queue does.
#[idempotent(key = "event.order_id", ttl = "24h", store = store)]
async fn charge(
    event: &PaymentEvent,
    psp: &PaymentProvider,
    store: &MemoryStore,
) -> Result<Receipt, ChargeError> {
    psp.charge(&event.order_id, event.amount_cents).await
}

/// What the consumer saw, and what the payment provider did.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) deliveries: usize,
    pub(crate) distinct_orders: usize,
    pub(crate) charges_executed: usize,
    pub(crate) replays: usize,
    pub(crate) in_progress: usize,
    pub(crate) failures: usize,
    /// Orders the provider charged more than once (must stay empty).
    pub(crate) charged_twice: Vec<String>,
}

impl Summary {
    pub(crate) fn holds(&self) -> bool {
        self.charges_executed == self.distinct_orders && self.charged_twice.is_empty()
    }
}

fn event(n: u32) -> PaymentEvent {
    PaymentEvent {
        order_id: format!("ord-{n}"),
        amount_cents: 1000 + u64::from(n) * 25,
    }
}

/// Runs the simulated queue to completion.
pub(crate) async fn simulate() -> Summary {
    let store = Arc::new(MemoryStore::new());
    let psp = Arc::new(PaymentProvider {
        flaky_order: Some("ord-4".into()),
        ..PaymentProvider::default()
    });
    // Wave 1: every order once, and three of them twice at the same moment.
    // Wave 2: late duplicates of orders that already completed.
    let mut waves: Vec<Vec<PaymentEvent>> = vec![
        (1..=10).chain([2, 5, 7]).map(event).collect(),
        [1, 3, 5, 9].into_iter().map(event).collect(),
    ];
    let mut summary = Summary::default();
    let mut orders = BTreeSet::new();
    let mut wave = 0;
    while wave < waves.len() {
        let tasks: Vec<_> = waves[wave]
            .iter()
            .cloned()
            .map(|event| {
                let (psp, store) = (Arc::clone(&psp), Arc::clone(&store));
                tokio::spawn(async move {
                    let result = charge(&event, &psp, &store).await;
                    (event, result)
                })
            })
            .collect();
        let mut redeliver = Vec::new();
        for task in tasks {
            let (event, result) = task.await.expect("the task does not panic");
            summary.deliveries += 1;
            orders.insert(event.order_id.clone());
            match result {
                Ok(_receipt) => {}
                Err(ChargeError::Idem(idem_core::Error::InProgress { .. })) => {
                    summary.in_progress += 1;
                    redeliver.push(event);
                }
                Err(_) => {
                    summary.failures += 1;
                    redeliver.push(event);
                }
            }
        }
        // The queue redelivers what was not acknowledged, in a later wave.
        if !redeliver.is_empty() {
            match waves.get_mut(wave + 1) {
                Some(next) => next.extend(redeliver),
                None => waves.push(redeliver),
            }
        }
        wave += 1;
    }
    let charges = psp.charges.lock().expect("not poisoned");
    summary.distinct_orders = orders.len();
    summary.charges_executed = charges.values().map(|n| *n as usize).sum();
    summary.charged_twice = charges
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(order, _)| order.clone())
        .collect();
    let acknowledged = summary.deliveries - summary.in_progress - summary.failures;
    summary.replays = acknowledged - summary.charges_executed.min(acknowledged);
    summary
}

#[tokio::main]
async fn main() -> ExitCode {
    let s = simulate().await;
    println!("idem quickstart: payment events delivered at least once\n");
    println!("  deliveries              {:>3}", s.deliveries);
    println!("  distinct orders         {:>3}", s.distinct_orders);
    println!("  charges executed        {:>3}", s.charges_executed);
    println!(
        "  replays                 {:>3}  (duplicates answered from the store)",
        s.replays
    );
    println!(
        "  in-progress rejections  {:>3}  (concurrent duplicates, redelivered later)",
        s.in_progress
    );
    println!(
        "  failed attempts         {:>3}  (claim released, redelivery charged it)",
        s.failures
    );
    println!();
    if s.holds() {
        println!("OK: every order was charged exactly once.");
        ExitCode::SUCCESS
    } else {
        println!(
            "FAILED: {} charges for {} orders (charged twice: {:?})",
            s.charges_executed, s.distinct_orders, s.charged_twice
        );
        ExitCode::FAILURE
    }
}
