//! # idem-batch
//!
//! Run an idempotent function over every record of a Lambda batch, with
//! bounded concurrency, and answer with the partial batch response the source
//! expects (enable `ReportBatchItemFailures` on the event source mapping):
//!
//! | source | [`Batch`] method | response | records run | reported |
//! |---|---|---|---|---|
//! | SQS standard | [`sqs`](Batch::sqs) | `SqsBatchResponse` | all concurrently | every failed record, by message id |
//! | SQS FIFO ([`is_fifo`]) | [`sqs`](Batch::sqs) | `SqsBatchResponse` | groups concurrently, each group in order | a failed record and the rest of its group (not run); other groups go on |
//! | Kinesis | [`kinesis`](Batch::kinesis) | `KinesisEventResponse` | per [`StreamOrder`] | the lowest failed sequence number, alone |
//! | DynamoDB Streams | [`dynamodb`](Batch::dynamodb) | `DynamoDbEventResponse` | per [`StreamOrder`] | the lowest failed sequence number, alone |
//!
//! ```
//! use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
//! use idem_batch::Batch;
//! use idem_core::{idempotent, MemoryStore};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Payment { order_id: String, amount_cents: u64 }
//!
//! #[derive(Debug, thiserror::Error)]
//! enum RecordError {
//!     #[error(transparent)]
//!     Idem(#[from] idem_core::Error),        // in progress elsewhere, store failure, …
//!     #[error(transparent)]
//!     Body(#[from] idem_batch::BodyError),   // never quotes the body
//! }
//!
//! static STORE: std::sync::LazyLock<MemoryStore> = std::sync::LazyLock::new(MemoryStore::new);
//!
//! #[idempotent(key = "payment.order_id", store = &*STORE)]
//! async fn charge(payment: &Payment) -> Result<u64, RecordError> {
//!     Ok(payment.amount_cents) // the side effect
//! }
//!
//! async fn process(message: &SqsMessage) -> Result<u64, RecordError> {
//!     let payment: Payment = idem_batch::parse_json_opt(message.body.as_deref())?;
//!     charge(&payment).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
//!     {"messageId": "m-1", "body": r#"{"order_id":"o-1","amount_cents":100}"#},
//!     {"messageId": "m-2", "body": "not json"},
//!     {"messageId": "m-3", "body": r#"{"order_id":"o-2","amount_cents":250}"#},
//! ]})).unwrap();
//! let response = Batch::new().concurrency(8).sqs(&event, process).await;
//! let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
//! assert_eq!(failed, ["m-2"]); // SQS redelivers only the bad record
//! # }
//! ```
//!
//! ## Choices
//!
//! - **Concurrency** is bounded ([`Batch::concurrency`], default
//!   [`DEFAULT_CONCURRENCY`]) and cooperative: the records' futures run on
//!   the invocation's task (no spawn, so the record function may borrow), which
//!   overlaps their waiting on DynamoDB and downstream calls; CPU-heavy work
//!   belongs in `spawn_blocking`.
//! - **Failures** go to the failure handler as soon as they happen. The
//!   default, [`LogFailures`], logs a warning without the payload and reports
//!   the record; your own ([`Batch::on_failure`]) can park poison records and
//!   return [`Verdict::Handled`]. A record whose key cannot be had (idem's
//!   `MissingKey`/`InvalidKey`, or a body that does not parse) is one such
//!   failure, never a failed batch.
//! - **Panics** in the record function are caught: that record is failed
//!   (its idem claim released by the engine), the others go on.
//! - **In progress**: a record whose key another invocation is running fails
//!   with idem's `InProgress` through your error type, and is reported, so the
//!   source delivers it again later (when it will be replayed).
//! - **Streams** run records concurrently by default, keeping the order per
//!   key ([`StreamOrder`]), and never start a record after a known failure
//!   (the source delivers it again anyway). Lambda resumes from the lowest
//!   reported sequence number, so only that one is reported; records after it
//!   that already ran are replayed by idem on redelivery, not run again.
//! - A record without an id (message id, sequence number) that fails is
//!   reported with an empty or null id, which Lambda treats as a failure of
//!   the whole batch: retried, never lost.

mod body;
mod failure;
mod runner;
mod sqs;
mod stream;

use std::future::Future;

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbEventResponse, KinesisEventResponse};

pub use body::{parse_json, parse_json_opt, BodyError};
pub use failure::{Failure, LogFailures, OnFailure, Reason, Source, Verdict};
pub use sqs::is_fifo;
pub use stream::StreamOrder;

/// How many records of a batch run at once unless [`Batch::concurrency`]
/// says otherwise: 10, the default batch size of an SQS event source.
///
/// ```
/// assert_eq!(idem_batch::DEFAULT_CONCURRENCY, 10);
/// ```
pub const DEFAULT_CONCURRENCY: usize = 10;

/// Runs a record function over a batch and builds the partial batch response.
///
/// Build one per function (it is cheap and `Clone`), and call the method of
/// the event's source with the event and the record function. The record
/// function takes a record by reference and returns a future of
/// `Result<T, E>` (`T` is discarded); `E` is your error type, which carries
/// idem's errors (`E: From<idem_core::Error>`).
///
/// ```
/// use aws_lambda_events::event::kinesis::KinesisEvent;
/// use idem_batch::{Batch, StreamOrder};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let event: KinesisEvent = serde_json::from_value(serde_json::json!({"Records": [
///     {"kinesis": {"sequenceNumber": "100", "partitionKey": "a", "data": "e30=", "approximateArrivalTimestamp": 1.7e9}},
///     {"kinesis": {"sequenceNumber": "101", "partitionKey": "b", "data": "e30=", "approximateArrivalTimestamp": 1.7e9}},
///     {"kinesis": {"sequenceNumber": "102", "partitionKey": "a", "data": "e30=", "approximateArrivalTimestamp": 1.7e9}},
/// ]})).unwrap();
/// let batch = Batch::new().stream_order(StreamOrder::InOrder);
/// let response = batch
///     .kinesis(&event, |record| async move {
///         match record.kinesis.sequence_number.as_str() {
///             "101" => Err("downstream unavailable"),
///             _ => Ok(()),
///         }
///     })
///     .await;
/// // Lambda checkpoints 100 and delivers 101 and 102 again.
/// assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some("101"));
/// assert_eq!(response.batch_item_failures.len(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Batch<H = LogFailures> {
    concurrency: usize,
    stream_order: StreamOrder,
    on_failure: H,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// A batch runner: [`DEFAULT_CONCURRENCY`], [`StreamOrder::ByKey`],
    /// failures logged by [`LogFailures`].
    ///
    /// ```
    /// let _batch = idem_batch::Batch::new();
    /// ```
    pub fn new() -> Self {
        Batch {
            concurrency: DEFAULT_CONCURRENCY,
            stream_order: StreamOrder::default(),
            on_failure: LogFailures,
        }
    }
}

impl<H> Batch<H> {
    /// How many records (SQS FIFO: message groups) run at once (default
    /// [`DEFAULT_CONCURRENCY`]; 0 counts as 1, which runs them one by one).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How Kinesis and DynamoDB stream records run (default
    /// [`StreamOrder::ByKey`]); SQS ignores it.
    pub fn stream_order(mut self, order: StreamOrder) -> Self {
        self.stream_order = order;
        self
    }

    /// Who decides about records that did not succeed (default
    /// [`LogFailures`]): an [`OnFailure`], such as a closure
    /// `|failure: Failure<'_, SqsMessage, MyError>| -> Verdict`.
    pub fn on_failure<H2>(self, on_failure: H2) -> Batch<H2> {
        Batch {
            concurrency: self.concurrency,
            stream_order: self.stream_order,
            on_failure,
        }
    }

    /// Runs `f` over an SQS batch: a standard queue's records concurrently; a
    /// FIFO queue's ([`is_fifo`]) in order within each message group, the
    /// rest of a group reported without running after one of its records
    /// fails. Returns every failed or not-run message by id.
    ///
    /// ```
    /// use aws_lambda_events::event::sqs::SqsEvent;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
    ///     {"messageId": "a1", "attributes": {"MessageGroupId": "a"}},
    ///     {"messageId": "a2", "attributes": {"MessageGroupId": "a"}},
    ///     {"messageId": "b1", "attributes": {"MessageGroupId": "b"}},
    /// ]})).unwrap();
    /// let response = idem_batch::Batch::new()
    ///     .sqs(&event, |m| async move {
    ///         if m.message_id.as_deref() == Some("a1") { Err("declined") } else { Ok(()) }
    ///     })
    ///     .await;
    /// let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    /// assert_eq!(failed, ["a1", "a2"]); // a2 did not run; group b went on
    /// # }
    /// ```
    pub async fn sqs<'a, F, Fut, T, E>(&self, event: &'a SqsEvent, f: F) -> SqsBatchResponse
    where
        F: Fn(&'a SqsMessage) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: OnFailure<SqsMessage, E>,
    {
        let (records, plan) = sqs::plan(event);
        let statuses = runner::run(&records, plan, self.concurrency, &f, &self.on_failure).await;
        runner::summarize(records.source, &statuses);
        sqs::response(&records, &statuses)
    }

    /// Runs `f` over a Kinesis batch as [`Batch::stream_order`] says, and
    /// reports the lowest failed sequence number (alone), from which Lambda
    /// delivers the shard again.
    ///
    /// See [`Batch`] for an example.
    pub async fn kinesis<'a, F, Fut, T, E>(
        &self,
        event: &'a KinesisEvent,
        f: F,
    ) -> KinesisEventResponse
    where
        F: Fn(&'a KinesisEventRecord) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: OnFailure<KinesisEventRecord, E>,
    {
        let (records, plan) = stream::kinesis_plan(event, self.stream_order);
        let statuses = runner::run(&records, plan, self.concurrency, &f, &self.on_failure).await;
        runner::summarize(records.source, &statuses);
        stream::kinesis_response(&records, &statuses)
    }

    /// Runs `f` over a DynamoDB Streams batch as [`Batch::stream_order`]
    /// says (by key: the item's keys), and reports the lowest failed sequence
    /// number (alone).
    ///
    /// ```
    /// use aws_lambda_events::event::dynamodb::Event;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let record = |seq: &str, id: &str| serde_json::json!({
    ///     "eventID": seq, "eventName": "INSERT", "awsRegion": "us-east-1",
    ///     "dynamodb": {"SequenceNumber": seq, "Keys": {"pk": {"S": id}}, "SizeBytes": 10,
    ///                  "ApproximateCreationDateTime": 1.7e9}
    /// });
    /// let event: Event = serde_json::from_value(serde_json::json!({"Records": [
    ///     record("300", "a"), record("301", "b"), record("302", "a"),
    /// ]})).unwrap();
    /// let response = idem_batch::Batch::new()
    ///     .dynamodb(&event, |r| async move {
    ///         if r.change.sequence_number.as_deref() == Some("301") { Err("throttled") } else { Ok(()) }
    ///     })
    ///     .await;
    /// assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some("301"));
    /// # }
    /// ```
    pub async fn dynamodb<'a, F, Fut, T, E>(
        &self,
        event: &'a DynamoDbEvent,
        f: F,
    ) -> DynamoDbEventResponse
    where
        F: Fn(&'a EventRecord) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        H: OnFailure<EventRecord, E>,
    {
        let (records, plan) = stream::dynamodb_plan(event, self.stream_order);
        let statuses = runner::run(&records, plan, self.concurrency, &f, &self.on_failure).await;
        runner::summarize(records.source, &statuses);
        stream::dynamodb_response(&records, &statuses)
    }
}
