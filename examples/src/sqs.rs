//! An SQS batch handler: one idempotent charge per record, the records run
//! concurrently by [`idem_batch::Batch`], with partial batch failures
//! (`batchItemFailures`, enable `ReportBatchItemFailures` on the event source
//! mapping) for records that failed or are still in progress elsewhere. A FIFO
//! queue's batch keeps the order within each message group.
//!
//! Keyed on the business id in the body (`order_id`), not the message id: a
//! producer that sends the same order twice gets two message ids, and still
//! one charge. Two such messages in one batch run at once: one charges, the
//! other is in progress and reported, and SQS's redelivery replays the charge.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use idem_batch::{Batch, BodyError};
use idem_core::{idempotent, Store};
use lambda_runtime::{Context, LambdaEvent};

use crate::payments::{Payment, Provider, Receipt};

/// Why one record was not charged.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    /// idem's own error: in progress elsewhere, store failure, …
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    /// The body is not a payment (the error does not quote the body).
    #[error(transparent)]
    BadMessage(#[from] BodyError),
}

/// The SQS handler, over any store (DynamoDB on Lambda, memory in tests).
#[derive(Debug)]
pub struct SqsHandler<S> {
    store: S,
    provider: Provider,
    batch: Batch,
}

impl<S: Store> SqsHandler<S> {
    /// A handler charging through `provider`, deduplicating in `store`.
    pub fn new(store: S, provider: Provider) -> Self {
        SqsHandler {
            store,
            provider,
            batch: Batch::new(),
        }
    }

    /// The same handler, running at most `concurrency` records at once
    /// (default [`idem_batch::DEFAULT_CONCURRENCY`]).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.batch = self.batch.concurrency(concurrency);
        self
    }

    /// The payment provider (to count charges).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Handles a batch, its records concurrently; records that failed or are
    /// in progress are returned as batch item failures, so SQS redelivers
    /// only those.
    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let context = &event.context;
        Ok(self
            .batch
            .sqs(&event.payload, |message| self.process(message, context))
            .await)
    }

    async fn process(
        &self,
        message: &SqsMessage,
        context: &Context,
    ) -> Result<Receipt, ChargeError> {
        let payment: Payment = idem_batch::parse_json_opt(message.body.as_deref())?;
        self.charge(&payment, context).await
    }

    /// Charges one payment, once per order within 48 hours. The claim never
    /// outlives the invocation's deadline, so after a timeout the redelivery
    /// is not blocked for the whole lease.
    #[idempotent(
        key = "payment.order_id",
        validate = "payment.amount_cents",
        ttl = "48h",
        lease = "2m",
        deadline = context.deadline,
        store = &self.store,
        name = "examples::sqs::charge"
    )]
    pub async fn charge(
        &self,
        payment: &Payment,
        context: &Context,
    ) -> Result<Receipt, ChargeError> {
        let key = idem_core::current_key().map(|k| k.storage_key().to_owned());
        Ok(self
            .provider
            .charge(payment, key.as_deref().unwrap_or_default())
            .await)
    }
}
