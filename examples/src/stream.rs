//! A Kinesis stream handler. A stream replays whole batches (after a failure,
//! a bisected batch, an iterator reset); keyed on each record's `eventID`
//! (shard and sequence number), a replayed batch executes nothing twice.
//! Records that fail are reported by sequence number, so the function can
//! use `ReportBatchItemFailures`.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use idem_core::{idempotent, Store};
use lambda_runtime::LambdaEvent;

use crate::payments::Payment;

/// Errors of one record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// idem's own error.
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    /// The data is not a payment.
    #[error("record data is not a payment: {0}")]
    BadData(#[from] serde_json::Error),
}

/// A ledger fed by the stream.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    credited_cents: AtomicU64,
    postings: AtomicU64,
}

impl<S: Store> Ledger<S> {
    /// An empty ledger deduplicating in `store`.
    pub fn new(store: S) -> Self {
        Ledger {
            store,
            credited_cents: AtomicU64::new(0),
            postings: AtomicU64::new(0),
        }
    }

    /// Total credited, in cents.
    pub fn credited_cents(&self) -> u64 {
        self.credited_cents.load(Ordering::SeqCst)
    }

    /// Postings executed.
    pub fn postings(&self) -> u64 {
        self.postings.load(Ordering::SeqCst)
    }

    /// Handles a batch, reporting failed records by sequence number.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, lambda_runtime::Error> {
        let mut response = KinesisEventResponse::default();
        for record in &event.payload.records {
            if let Err(error) = self.post(record).await {
                tracing::warn!(%error, "record not posted");
                let mut failure = KinesisBatchItemFailure::default();
                failure.item_identifier = Some(record.kinesis.sequence_number.clone());
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    /// Posts one record, once per event id for 7 days.
    #[idempotent(key = "record.event_id", ttl = "7d", store = &self.store)]
    pub async fn post(&self, record: &KinesisEventRecord) -> Result<u64, RecordError> {
        let payment: Payment = serde_json::from_slice(&record.kinesis.data)?;
        self.credited_cents
            .fetch_add(payment.amount_cents, Ordering::SeqCst);
        self.postings.fetch_add(1, Ordering::SeqCst);
        Ok(payment.amount_cents)
    }
}
