//! An SQS batch handler: one idempotent charge per record, with partial batch
//! failures (`batchItemFailures`, enable `ReportBatchItemFailures` on the event
//! source mapping) for records that failed or are still in progress elsewhere.
//!
//! Keyed on the business id in the body (`order_id`), not the message id: a
//! producer that sends the same order twice gets two message ids, and still
//! one charge.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use idem_core::{idempotent, Store};
use lambda_runtime::{Context, LambdaEvent};

use crate::payments::{Payment, Provider, Receipt};

/// Why one record was not charged.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    /// idem's own error: in progress elsewhere, store failure, …
    #[error(transparent)]
    Idem(#[from] idem_core::Error),
    /// The body is not a payment.
    #[error("message {message_id} is not a payment: {source}")]
    BadMessage {
        /// The SQS message id.
        message_id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// The SQS handler, over any store (DynamoDB on Lambda, memory in tests).
#[derive(Debug)]
pub struct SqsHandler<S> {
    store: S,
    provider: Provider,
}

impl<S: Store> SqsHandler<S> {
    /// A handler charging through `provider`, deduplicating in `store`.
    pub fn new(store: S, provider: Provider) -> Self {
        SqsHandler { store, provider }
    }

    /// The payment provider (to count charges).
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Handles a batch; records that failed or are in progress are returned
    /// as batch item failures, so SQS redelivers only those.
    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let mut response = SqsBatchResponse::default();
        for message in &event.payload.records {
            if let Err(error) = self.process(message, &event.context).await {
                tracing::warn!(%error, "record not processed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    async fn process(
        &self,
        message: &SqsMessage,
        context: &Context,
    ) -> Result<Receipt, ChargeError> {
        let payment: Payment = serde_json::from_str(message.body.as_deref().unwrap_or_default())
            .map_err(|source| ChargeError::BadMessage {
                message_id: message.message_id.clone().unwrap_or_default(),
                source,
            })?;
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
