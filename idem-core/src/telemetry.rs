//! Outcomes and counters. With the `metrics` feature the counters go to the
//! `metrics` facade; without it they compile to nothing.

/// How a guarded call ended; the `outcome` of its span and metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The body ran and succeeded.
    Executed,
    /// A saved result was returned; the body did not run.
    Replayed,
    /// Another run holds the key.
    InProgress,
    /// The body ran and returned `Err`; the claim was released.
    BodyError,
    /// idem itself failed (store, key, payload mismatch, …).
    Error,
    /// A key part was missing and `on_missing_key = run`.
    Unguarded,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Replayed => "replayed",
            Outcome::InProgress => "in_progress",
            Outcome::BodyError => "body_error",
            Outcome::Error => "error",
            Outcome::Unguarded => "unguarded",
        }
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use super::Outcome;

    pub(crate) fn call(namespace: &str, outcome: Outcome) {
        metrics::counter!(
            "idem_calls_total",
            "namespace" => namespace.to_owned(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
    }

    pub(crate) fn store_error(namespace: &str) {
        metrics::counter!("idem_store_errors_total", "namespace" => namespace.to_owned())
            .increment(1);
    }

    pub(crate) fn complete_failure(namespace: &str) {
        metrics::counter!("idem_complete_failures_total", "namespace" => namespace.to_owned())
            .increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use super::Outcome;

    pub(crate) fn call(_namespace: &str, _outcome: Outcome) {}
    pub(crate) fn store_error(_namespace: &str) {}
    pub(crate) fn complete_failure(_namespace: &str) {}
}

pub(crate) use imp::{call, complete_failure, store_error};
