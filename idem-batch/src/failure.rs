//! What happens to a record that did not succeed: the failure handler.

use std::fmt;

/// The event source a batch came from, as logs name it.
///
/// ```
/// assert_eq!(idem_batch::Source::SqsFifo.as_str(), "sqs-fifo");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// An SQS standard queue.
    Sqs,
    /// An SQS FIFO queue.
    SqsFifo,
    /// A Kinesis data stream.
    Kinesis,
    /// A DynamoDB stream.
    DynamoDb,
}

impl Source {
    /// `sqs`, `sqs-fifo`, `kinesis` or `dynamodb`: the `source` field of the logs.
    ///
    /// ```
    /// assert_eq!(idem_batch::Source::Kinesis.as_str(), "kinesis");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sqs => "sqs",
            Source::SqsFifo => "sqs-fifo",
            Source::Kinesis => "kinesis",
            Source::DynamoDb => "dynamodb",
        }
    }
}

/// Why a record did not succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Reason<'a, E> {
    /// The record function returned `Err`: idem's own errors (in progress
    /// elsewhere, a missing key, a store failure) through your error type, a
    /// body that does not parse, or your function's own failure.
    Error(&'a E),
    /// The record function panicked. The panic was caught; the other records
    /// went on. (The panic message went to the panic hook, not to this value:
    /// it may quote the payload.)
    Panicked,
}

// Manual impls: `E` need not be `Clone`, only the reference is copied.
impl<E> Clone for Reason<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Reason<'_, E> {}

/// One record that did not succeed, as a failure handler sees it.
///
/// ```
/// use idem_batch::{Failure, Reason, Source};
///
/// fn describe(failure: &Failure<'_, String, std::io::Error>) -> String {
///     match failure.reason {
///         Reason::Error(e) => format!("{} failed: {e}", failure.id),
///         Reason::Panicked => format!("{} panicked", failure.id),
///         _ => format!("{} failed", failure.id),
///     }
/// }
/// let record = String::from("payload");
/// let error = std::io::Error::other("disk full");
/// let failure = Failure { source: Source::Sqs, id: "msg-1", index: 0, record: &record, reason: Reason::Error(&error) };
/// assert_eq!(describe(&failure), "msg-1 failed: disk full");
/// ```
#[derive(Debug)]
pub struct Failure<'a, R, E> {
    /// Where the batch came from.
    pub source: Source,
    /// The record's identifier: the SQS message id, or the stream record's
    /// sequence number (empty if the record has none).
    pub id: &'a str,
    /// The record's position in the batch.
    pub index: usize,
    /// The record, to forward it somewhere (a dead-letter queue, a table).
    pub record: &'a R,
    /// Why it did not succeed.
    pub reason: Reason<'a, E>,
}

/// What to do with a record that did not succeed.
///
/// ```
/// assert_eq!(idem_batch::Verdict::default(), idem_batch::Verdict::Retry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Report it as a batch item failure, so the source delivers it again
    /// (the default).
    #[default]
    Retry,
    /// Count it as handled (you parked it elsewhere, or it can never
    /// succeed): it is not reported, and its FIFO group or stream goes on.
    Handled,
}

/// Decides what becomes of a record that did not succeed, and logs it.
///
/// Implemented by [`LogFailures`] (the default) and by every
/// `Fn(Failure<'_, R, E>) -> Verdict`:
///
/// ```
/// use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
/// use idem_batch::{Batch, Failure, Reason, Verdict};
///
/// #[derive(Debug)]
/// enum RecordError { NotAPayment, Unavailable }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
///     {"messageId": "m-1", "body": "x"}, {"messageId": "m-2", "body": "y"}
/// ]})).unwrap();
/// // Poison messages are parked (here: counted) instead of being retried forever.
/// let parked = std::sync::Mutex::new(Vec::new());
/// let batch = Batch::new().on_failure(|failure: Failure<'_, SqsMessage, RecordError>| {
///     match failure.reason {
///         Reason::Error(RecordError::NotAPayment) => {
///             parked.lock().unwrap().push(failure.id.to_owned());
///             Verdict::Handled
///         }
///         _ => Verdict::Retry,
///     }
/// });
/// let response = batch
///     .sqs(&event, |message| async move {
///         match message.body.as_deref() {
///             Some("x") => Err::<(), _>(RecordError::NotAPayment),
///             _ => Err(RecordError::Unavailable),
///         }
///     })
///     .await;
/// assert_eq!(response.batch_item_failures.len(), 1); // m-2 only
/// assert_eq!(parked.into_inner().unwrap(), ["m-1"]);
/// # }
/// ```
pub trait OnFailure<R, E> {
    /// Called once per record that did not succeed, as soon as it fails.
    fn on_failure(&self, failure: Failure<'_, R, E>) -> Verdict;
}

impl<R, E, F> OnFailure<R, E> for F
where
    F: Fn(Failure<'_, R, E>) -> Verdict,
{
    fn on_failure(&self, failure: Failure<'_, R, E>) -> Verdict {
        self(failure)
    }
}

/// The default failure handler: logs a warning and reports the record for
/// redelivery ([`Verdict::Retry`]).
///
/// The warning carries the source, the record's id and position, the error's
/// type name and its alternate `Display` (`{:#}`, which for `anyhow::Error`
/// is the whole chain) — never the record's body. idem's own errors
/// name only the namespace and a short digest; parse bodies with
/// [`parse_json`](crate::parse_json), whose errors do not quote the input
/// (serde_json's own errors do), and keep payloads out of your own errors'
/// `Display`.
///
/// ```
/// use idem_batch::{Failure, LogFailures, OnFailure, Reason, Source, Verdict};
///
/// let error = std::io::Error::other("timed out");
/// let failure = Failure { source: Source::Kinesis, id: "4959", index: 3, record: &(), reason: Reason::Error(&error) };
/// assert_eq!(LogFailures.on_failure(failure), Verdict::Retry);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFailures;

impl<R, E: fmt::Display> OnFailure<R, E> for LogFailures {
    fn on_failure(&self, failure: Failure<'_, R, E>) -> Verdict {
        match failure.reason {
            Reason::Error(error) => tracing::warn!(
                source = failure.source.as_str(),
                record = failure.id,
                index = failure.index,
                error.type = std::any::type_name::<E>(),
                error = format_args!("{error:#}"),
                "batch record failed; reported for redelivery"
            ),
            Reason::Panicked => tracing::error!(
                source = failure.source.as_str(),
                record = failure.id,
                index = failure.index,
                "batch record handler panicked; reported for redelivery"
            ),
        }
        Verdict::Retry
    }
}
