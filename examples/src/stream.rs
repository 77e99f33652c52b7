//! A Kinesis stream handler. A stream replays whole batches (after a failure,
//! a bisected batch, an iterator reset); keyed on each record's `eventID`
//! (shard and sequence number), a replayed batch executes nothing twice.
//! [`idem_batch::Batch`] runs the records concurrently, in order per partition
//! key, and reports the lowest failed sequence number (`ReportBatchItemFailures`),
//! from which Lambda delivers the shard again: what already ran after it is
//! replayed.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use idem_batch::{Batch, BodyError, StreamOrder};
use idem_core::{idempotent, Store};
use lambda_runtime::LambdaEvent;

use crate::payments::Payment;

/// Errors of one record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// idem's own error.
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    /// The data is not a payment (the error does not quote the data).
    #[error(transparent)]
    BadData(#[from] BodyError),
}

/// A ledger fed by the stream.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    credited_cents: AtomicU64,
    postings: AtomicU64,
    batch: Batch,
}

impl<S: Store> Ledger<S> {
    /// An empty ledger deduplicating in `store`.
    pub fn new(store: S) -> Self {
        Ledger {
            store,
            credited_cents: AtomicU64::new(0),
            postings: AtomicU64::new(0),
            batch: Batch::new(),
        }
    }

    /// The same ledger, running its records as `order` says (default
    /// [`StreamOrder::ByKey`]).
    pub fn with_order(mut self, order: StreamOrder) -> Self {
        self.batch = self.batch.stream_order(order);
        self
    }

    /// Total credited, in cents.
    pub fn credited_cents(&self) -> u64 {
        self.credited_cents.load(Ordering::SeqCst)
    }

    /// Postings executed.
    pub fn postings(&self) -> u64 {
        self.postings.load(Ordering::SeqCst)
    }

    /// Handles a batch, reporting the lowest failed sequence number.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, lambda_runtime::Error> {
        Ok(self
            .batch
            .kinesis(&event.payload, |record| self.post(record))
            .await)
    }

    /// Posts one record, once per event id for 7 days.
    #[idempotent(key = "record.event_id", ttl = "7d", store = &self.store)]
    pub async fn post(&self, record: &KinesisEventRecord) -> Result<u64, RecordError> {
        let payment: Payment = idem_batch::parse_json(&record.kinesis.data[..])?;
        self.credited_cents
            .fetch_add(payment.amount_cents, Ordering::SeqCst);
        self.postings.fetch_add(1, Ordering::SeqCst);
        Ok(payment.amount_cents)
    }
}
