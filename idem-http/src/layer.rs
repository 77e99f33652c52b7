//! [`IdempotencyLayer`]: the configuration, applied to a service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method, StatusCode};
use idem_core::{InProgress, Store};
use tower_layer::Layer;

use crate::config::{Config, Shared};
use crate::fingerprint::RequestFingerprint;
use crate::scope::Scope;
use crate::service::Idempotency;

/// A [`Layer`] that makes `POST` and `PATCH` handlers idempotent under the
/// `Idempotency-Key` header: the first request with a key runs the handler
/// and saves its response in `store`; a retry with the same key gets the
/// saved response, byte for byte, with `Idempotent-Replayed: true`.
///
/// Cheap to clone (two `Arc`s); every setter names its default.
///
/// ```
/// use idem_core::MemoryStore;
/// use idem_http::{IdempotencyLayer, Scope};
/// use std::time::Duration;
///
/// let layer = IdempotencyLayer::new(MemoryStore::new())
///     .namespace("payments-api")
///     .require_key(true)
///     .ttl(Duration::from_secs(48 * 3600))
///     .scope(Scope::header(http::HeaderName::from_static("x-tenant-id")));
/// // `ServiceBuilder::new().layer(layer)`, or axum's `Router::layer(layer)`.
/// # let _ = layer;
/// ```
pub struct IdempotencyLayer {
    shared: Arc<Shared>,
}

impl IdempotencyLayer {
    /// A layer saving responses in `store` (any [`Store`]: `MemoryStore`,
    /// `DynamoStore`, `Arc<S>`, your own).
    pub fn new(store: impl Store + 'static) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A layer saving responses in a shared store, `Arc<dyn Store>` included.
    ///
    /// ```
    /// use idem_core::{MemoryStore, Store};
    /// use std::sync::Arc;
    ///
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// let layer = idem_http::IdempotencyLayer::from_arc(store);
    /// # let _ = layer;
    /// ```
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        IdempotencyLayer {
            shared: Arc::new(Shared {
                store,
                config: Config::default(),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut Arc::make_mut(&mut self.shared).config);
        self
    }

    /// The records' namespace (default `idem_http`): two APIs sharing a store
    /// give each their own.
    pub fn namespace(self, namespace: impl Into<Cow<'static, str>>) -> Self {
        let namespace = namespace.into();
        self.with(|c| c.namespace = namespace)
    }

    /// The header carrying the key (default `Idempotency-Key`).
    pub fn header(self, name: HeaderName) -> Self {
        self.with(|c| c.header = name)
    }

    /// The methods guarded (default `POST` and `PATCH`); others pass through.
    pub fn methods(self, methods: impl IntoIterator<Item = Method>) -> Self {
        let methods = methods.into_iter().collect();
        self.with(|c| c.methods = methods)
    }

    /// Whether a guarded request without a key is refused with 400 (default:
    /// no, it passes through unguarded).
    pub fn require_key(self, required: bool) -> Self {
        self.with(|c| c.require_key = required)
    }

    /// The longest key accepted, in bytes (default 255); longer ones get 400.
    pub fn max_key_len(self, bytes: usize) -> Self {
        self.with(|c| c.max_key_len = bytes)
    }

    /// Whose key it is (default [`Scope::default`]: the [`Principal`](crate::Principal)
    /// extension, else the `Authorization` header, else anonymous).
    pub fn scope(self, scope: Scope) -> Self {
        self.with(|c| c.scope = scope)
    }

    /// What must match for a key to replay (default method, path and body);
    /// `None` fingerprints nothing.
    pub fn fingerprint(self, fingerprint: impl Into<Option<RequestFingerprint>>) -> Self {
        let fingerprint = fingerprint.into();
        self.with(|c| c.fingerprint = fingerprint)
    }

    /// Which statuses are saved (default [`default_save_policy`](crate::default_save_policy):
    /// below 500, except 408, 425 and 429); others release the key.
    pub fn save_if(self, save: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        let save = Arc::new(save);
        self.with(|c| c.save = save)
    }

    /// The header added to replayed responses with the value `true` (default
    /// `Idempotent-Replayed`); `None` adds nothing.
    pub fn replay_header(self, name: impl Into<Option<HeaderName>>) -> Self {
        let name = name.into();
        self.with(|c| c.replay_header = name)
    }

    /// How long a response is replayed (default 24 hours).
    pub fn ttl(self, ttl: Duration) -> Self {
        self.with(|c| c.ttl = ttl)
    }

    /// How long a claim survives a crashed server without renewal (default
    /// 5 minutes; renewed while the handler runs).
    pub fn lease(self, lease: Duration) -> Self {
        self.with(|c| c.lease = lease)
    }

    /// What a concurrent duplicate does (default [`InProgress::Fail`]: 409
    /// with `Retry-After`); [`InProgress::Wait`] waits for the first response.
    pub fn in_progress(self, policy: InProgress) -> Self {
        self.with(|c| c.in_progress = policy)
    }

    /// The `Retry-After` of a 409 for a key in progress (default 1 second).
    pub fn retry_after(self, after: Duration) -> Self {
        self.with(|c| c.retry_after = after)
    }

    /// The largest request body buffered, in bytes (default 1 MiB); larger
    /// ones get 413.
    pub fn max_request_bytes(self, bytes: usize) -> Self {
        self.with(|c| c.max_request_bytes = bytes)
    }

    /// The largest response body buffered and saved, in bytes (default
    /// 1 MiB); a larger one streams through to its caller, and its key
    /// replays as 409 `replay-unavailable`.
    pub fn max_response_bytes(self, bytes: usize) -> Self {
        self.with(|c| c.max_response_bytes = bytes)
    }
}

impl Clone for IdempotencyLayer {
    fn clone(&self) -> Self {
        IdempotencyLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for IdempotencyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotency<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotency::new(inner, Arc::clone(&self.shared))
    }
}
