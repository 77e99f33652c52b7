//! Errors: invalid configuration, and SDK errors turned into [`StoreError`]s.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use idem_core::store::BoxError;
use idem_core::StoreError;

/// A [`DynamoStoreBuilder`](crate::DynamoStoreBuilder) setting that cannot work.
///
/// ```
/// # let client = aws_sdk_dynamodb::Client::from_conf(
/// #     aws_sdk_dynamodb::Config::builder()
/// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
/// #         .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
/// #         .build(),
/// # );
/// use idem_dynamo::{ConfigError, DynamoStore};
///
/// let err = DynamoStore::builder("idempotency").key_attr("").build(client).unwrap_err();
/// assert_eq!(err, ConfigError::EmptyName { setting: "key_attr" });
/// assert_eq!(err.to_string(), "`key_attr` must not be empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The table or an attribute name is empty.
    #[error("`{setting}` must not be empty")]
    EmptyName {
        /// The builder setting.
        setting: &'static str,
    },
    /// Two settings name the same attribute, so one would overwrite the other.
    #[error("`{first}` and `{second}` both name the attribute `{name}`")]
    DuplicateName {
        /// The attribute name.
        name: String,
        /// One setting naming it.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// `static_pk_value` only makes sense in the sort-key layout.
    #[error("`static_pk_value` needs `sort_key_attr`")]
    StaticPkWithoutSortKey,
}

/// Why a DynamoDB request failed: the source of
/// [`StoreError::Backend`](idem_core::StoreError::Backend).
///
/// `SdkError`'s own Display says only "service error"; this one renders the
/// SDK's whole error context once (the service's code and message, or the
/// transport's cause), and ends the chain there so `{:#}` does not print it
/// twice. The SDK error itself is kept for inspection.
///
/// ```
/// use idem_dynamo::SdkFailure;
/// let failure = SdkFailure::new(std::io::Error::other("connection reset"));
/// assert!(failure.to_string().starts_with("connection reset"));
/// assert!(failure.sdk_error().downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Debug)]
pub struct SdkFailure {
    context: String,
    code: Option<String>,
    error: BoxError,
}

/// The codes DynamoDB answers when a request exceeds the table's, a
/// partition's or the account's throughput (the SDK's standard retry
/// already retried them).
const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

impl SdkFailure {
    /// Wraps an error, rendering its whole chain now.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SdkFailure {
            context: DisplayErrorContext(&error).to_string(),
            code: None,
            error: Box::new(error),
        }
    }

    /// The service's error code (`ProvisionedThroughputExceededException`,
    /// `ResourceNotFoundException`, …); `None` for a failure that got no
    /// answer (connection, timeout).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether DynamoDB throttled the request, after the SDK's own retries
    /// (standard mode: 3 attempts with exponential backoff): the call may
    /// succeed later, so back off and retry it (or let the event source
    /// redeliver).
    ///
    /// ```
    /// # use idem_dynamo::SdkFailure;
    /// let failure = SdkFailure::new(std::io::Error::other("connection reset"));
    /// assert!(!failure.is_throttling());
    /// ```
    pub fn is_throttling(&self) -> bool {
        self.code().is_some_and(|c| THROTTLING.contains(&c))
    }

    /// The SDK error (an `SdkError<OperationError, HttpResponse>`), to
    /// downcast.
    pub fn sdk_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl std::fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for SdkFailure {}

/// A failed request as a [`StoreError`] naming the operation and table.
pub(crate) fn backend<E, R>(operation: &str, table: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .map(str::to_owned);
    let mut failure = SdkFailure::new(err);
    failure.code = code;
    StoreError::backend(format!("{operation} on table `{table}`"), failure)
}

/// A failure that is not an SDK error (a schema mismatch, a timeout of ours).
pub(crate) fn failed(operation: &str, table: &str, why: String) -> StoreError {
    StoreError::backend(format!("{operation} on table `{table}`"), why)
}

/// The outcome of a write conditioned on the lease token: a failed condition
/// means the claim was taken over or deleted (fencing), anything else is a
/// backend error.
pub(crate) fn fenced<O, E, R>(
    operation: &str,
    table: &str,
    result: Result<O, SdkError<E, R>>,
) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) => match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some("ConditionalCheckFailedException") => Err(StoreError::LeaseLost),
            _ => Err(backend(operation, table, err)),
        },
    }
}

/// Whether DynamoDB refused a write because the item would exceed its 400 KB
/// limit. There is no dedicated error code: it is a `ValidationException`
/// whose message says so ("Item size has exceeded the maximum allowed size",
/// "Item size to update has exceeded …").
pub(crate) fn is_item_too_large<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ValidationException")
        && err
            .message()
            .is_some_and(|m| m.contains("exceeded the maximum allowed size"))
}

/// A record that cannot be understood. The reason names the table and key, so
/// an operator can find and fix (or delete) the item.
pub(crate) fn corrupt(table: &str, key: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        reason: format!("item `{key}` in table `{table}`: {what}"),
    }
}
