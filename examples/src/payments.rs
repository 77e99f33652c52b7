//! The side effect the examples guard: a payment provider that counts charges.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A payment to take, as it arrives in a message body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payment {
    /// The business id: one charge per order.
    pub order_id: String,
    /// Who pays.
    pub customer: String,
    /// How much, in cents.
    pub amount_cents: u64,
}

/// What a charge returns; saved and replayed to duplicates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id of the charge.
    pub charge_id: String,
    /// The order charged.
    pub order_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// A stand-in payment provider. `latency` stretches each charge, to show
/// deadlines and concurrent duplicates.
#[derive(Debug, Default)]
pub struct Provider {
    charges: AtomicU64,
    latency: Duration,
}

impl Provider {
    /// A provider whose charges take `latency`.
    pub fn with_latency(latency: Duration) -> Self {
        Provider {
            charges: AtomicU64::new(0),
            latency,
        }
    }

    /// Takes the money: the effect that must happen once per order.
    pub async fn charge(&self, payment: &Payment, idempotency_key: &str) -> Receipt {
        tokio::time::sleep(self.latency).await;
        let n = self.charges.fetch_add(1, Ordering::SeqCst) + 1;
        // A real provider would get `idempotency_key` as its own
        // Idempotency-Key header, deduplicating even if saving our result fails.
        let _ = idempotency_key;
        Receipt {
            charge_id: format!("ch_{n:06}"),
            order_id: payment.order_id.clone(),
            amount_cents: payment.amount_cents,
        }
    }

    /// How many charges were executed.
    pub fn charges(&self) -> u64 {
        self.charges.load(Ordering::SeqCst)
    }
}
