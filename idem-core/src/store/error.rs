//! Why a store operation failed.

/// Type-erased source of a [`StoreError`].
///
/// ```
/// use idem_core::store::{BoxError, StoreError};
///
/// let source: BoxError = "connection reset".into();
/// let e = StoreError::backend("GetItem", source);
/// assert_eq!(e.to_string(), "GetItem failed");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// ```
/// use idem_core::store::StoreError;
///
/// let e = StoreError::TooLarge { size: 500_000, limit: 400_000 };
/// assert_eq!(e.to_string(), "the result (500000 bytes) is larger than the store can hold (400000 bytes)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease token no longer matches: the claim lapsed and another run
    /// took the key over (or the record was deleted). Fencing.
    #[error("the lease was lost: another run took the key over")]
    LeaseLost,
    /// The data is larger than the store can hold in one record.
    #[error("the result ({size} bytes) is larger than the store can hold ({limit} bytes)")]
    TooLarge {
        /// Size of what was to be saved, in bytes.
        size: usize,
        /// The store's limit, in bytes.
        limit: usize,
    },
    /// A stored record could not be understood (unknown status, missing or
    /// mistyped attribute).
    #[error("corrupt record: {reason}")]
    Corrupt {
        /// What is wrong with it.
        reason: String,
    },
    /// The backend failed (network, throttling, missing table, …). Display
    /// names the operation; the source says why.
    #[error("{operation} failed")]
    Backend {
        /// The operation, naming the backend's call and table (or server)
        /// where it has them.
        operation: String,
        /// Why: the backend's error, with its context.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A backend error for `operation`, caused by `source`.
    ///
    /// ```
    /// use idem_core::store::StoreError;
    /// use std::error::Error as _;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    /// let e = StoreError::backend("PutItem on table `idem`", io);
    /// assert_eq!(e.to_string(), "PutItem on table `idem` failed");
    /// assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("refused"));
    /// ```
    pub fn backend(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            operation: operation.into(),
            source: source.into(),
        }
    }
}
