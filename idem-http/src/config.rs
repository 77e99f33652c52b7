//! What the layer does, and its defaults.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method, StatusCode};
use idem_core::{InProgress, Store};

use crate::fingerprint::RequestFingerprint;
use crate::scope::Scope;

/// The draft's header: `Idempotency-Key`.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header marking a replayed response: `Idempotent-Replayed: true`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a response is replayed unless `ttl` says otherwise: 24 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest key accepted unless `max_key_len` says otherwise: 255 bytes.
pub const DEFAULT_MAX_KEY_LEN: usize = 255;
/// The largest request body buffered unless `max_request_bytes` says otherwise: 1 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1 << 20;
/// The largest response body buffered unless `max_response_bytes` says otherwise: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Whether a response with this status is saved and replayed.
///
/// The default saves every status below 500 except the transient 408
/// (Request Timeout), 425 (Too Early) and 429 (Too Many Requests): a retry
/// of those should run again, not replay the refusal. A response that is not
/// saved releases the key, so the client's retry runs the handler again.
///
/// ```
/// use http::StatusCode;
/// use idem_http::default_save_policy;
///
/// assert!(default_save_policy(StatusCode::CREATED));
/// assert!(default_save_policy(StatusCode::NOT_FOUND));
/// assert!(!default_save_policy(StatusCode::TOO_MANY_REQUESTS));
/// assert!(!default_save_policy(StatusCode::SERVICE_UNAVAILABLE));
/// ```
pub fn default_save_policy(status: StatusCode) -> bool {
    !status.is_server_error()
        && !status.is_informational()
        && !matches!(status.as_u16(), 408 | 425 | 429)
}

/// What a layer's services share, behind one `Arc` (a request clones one
/// pointer, not two): the store and the configuration.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Config,
}

/// The layer's configuration, shared by its services.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) namespace: Cow<'static, str>,
    pub(crate) header: HeaderName,
    pub(crate) methods: Vec<Method>,
    pub(crate) require_key: bool,
    pub(crate) max_key_len: usize,
    pub(crate) scope: Scope,
    pub(crate) fingerprint: Option<RequestFingerprint>,
    pub(crate) save: Arc<dyn Fn(StatusCode) -> bool + Send + Sync>,
    pub(crate) replay_header: Option<HeaderName>,
    pub(crate) ttl: Duration,
    pub(crate) lease: Duration,
    pub(crate) in_progress: InProgress,
    pub(crate) retry_after: Duration,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_response_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: Cow::Borrowed("idem_http"),
            header: IDEMPOTENCY_KEY,
            methods: vec![Method::POST, Method::PATCH],
            require_key: false,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            scope: Scope::default(),
            fingerprint: Some(RequestFingerprint::default()),
            save: Arc::new(default_save_policy),
            replay_header: Some(IDEMPOTENT_REPLAYED),
            ttl: DEFAULT_TTL,
            lease: idem_core::DEFAULT_LEASE,
            in_progress: InProgress::Fail,
            retry_after: Duration::from_secs(1),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Config {
    pub(crate) fn guards(&self, method: &Method) -> bool {
        self.methods.iter().any(|m| m == method)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("namespace", &self.namespace)
            .field("header", &self.header)
            .field("methods", &self.methods)
            .field("require_key", &self.require_key)
            .field("max_key_len", &self.max_key_len)
            .field("scope", &self.scope)
            .field("fingerprint", &self.fingerprint)
            .field("replay_header", &self.replay_header)
            .field("ttl", &self.ttl)
            .field("lease", &self.lease)
            .field("in_progress", &self.in_progress)
            .field("retry_after", &self.retry_after)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}
