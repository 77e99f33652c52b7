//! Two EventBridge targets of one `OrderPlaced` event. Each guarded function
//! has its own namespace (`module::fn`), so each deduplicates alone: a
//! redelivered event sends one email and awards points once, and one
//! target's record never suppresses the other.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use idem_core::{idempotent, Store};
use serde::{Deserialize, Serialize};

/// The event's `detail`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// Order total, in cents.
    pub total_cents: u64,
}

/// Errors of the targets.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// idem's own error.
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
}

/// Both targets, over one store.
#[derive(Debug)]
pub struct Targets<S> {
    store: S,
    emails: AtomicU64,
    points: AtomicU64,
}

impl<S: Store> Targets<S> {
    /// Targets deduplicating in `store`.
    pub fn new(store: S) -> Self {
        Targets {
            store,
            emails: AtomicU64::new(0),
            points: AtomicU64::new(0),
        }
    }

    /// Emails sent so far.
    pub fn emails_sent(&self) -> u64 {
        self.emails.load(Ordering::SeqCst)
    }

    /// Points awarded so far.
    pub fn points_awarded(&self) -> u64 {
        self.points.load(Ordering::SeqCst)
    }

    /// Target 1: the confirmation email, once per event id.
    #[idempotent(key = "event.id", ttl = "24h", store = &self.store)]
    pub async fn send_confirmation(
        &self,
        event: &EventBridgeEvent<OrderPlaced>,
    ) -> Result<String, TargetError> {
        self.emails.fetch_add(1, Ordering::SeqCst);
        Ok(format!("confirmation for {} sent", event.detail.order_id))
    }

    /// Target 2: loyalty points, one per euro, once per event id.
    #[idempotent(key = "event.id", ttl = "24h", store = &self.store)]
    pub async fn award_points(
        &self,
        event: &EventBridgeEvent<OrderPlaced>,
    ) -> Result<u64, TargetError> {
        let points = event.detail.total_cents / 100;
        self.points.fetch_add(points, Ordering::SeqCst);
        Ok(points)
    }
}
