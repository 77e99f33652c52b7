//! The engine: the call flow of one guarded call, behind the [`Idempotent`]
//! builder.
//!
//! - `builder`: the builder and its settings;
//! - `run`: planning a call (key, fingerprint, store) and its outcome;
//! - `call`: the claim loop — replay, in progress, waiting;
//! - `body`: running the body under a claim — renewal, saving, and releasing
//!   after an error, a panic or a cancellation;
//! - `retry`: store writes retried after an unknown outcome;
//! - `policy`: the policies a call can choose.

use std::time::Duration;

mod body;
mod builder;
mod call;
mod policy;
mod release;
mod retry;
mod run;

pub use builder::Idempotent;
pub use policy::{InProgress, OnCancel, OnMissingKey};

/// How long a result is replayed unless `ttl` says otherwise.
///
/// ```
/// assert_eq!(idem_core::DEFAULT_TTL, std::time::Duration::from_secs(60 * 60));
/// ```
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// How long a claim survives without renewal unless `lease` says otherwise.
///
/// ```
/// assert_eq!(idem_core::DEFAULT_LEASE, std::time::Duration::from_secs(5 * 60));
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
