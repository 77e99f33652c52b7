//! Outcomes and counters. With the `metrics` feature the counters go to the
//! `metrics` facade; without it they compile to nothing.

/// How a guarded call ended; the `outcome` of its span and metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
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

impl Label {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Label::Executed => "executed",
            Label::Replayed => "replayed",
            Label::InProgress => "in_progress",
            Label::BodyError => "body_error",
            Label::Error => "error",
            Label::Unguarded => "unguarded",
        }
    }
}

// Namespaces are `&'static str` for every `#[idempotent]` function, so the
// labels borrow them: no allocation per call. (Hence `&Cow`, not `&str`: the
// label is a clone of the Cow, which stays borrowed.)
#[cfg(feature = "metrics")]
#[allow(clippy::ptr_arg)]
mod imp {
    use std::borrow::Cow;

    use super::Label;

    pub(crate) fn call(namespace: &Cow<'static, str>, outcome: Label) {
        metrics::counter!(
            "idem_calls_total",
            "namespace" => namespace.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
    }

    pub(crate) fn store_error(namespace: &Cow<'static, str>) {
        metrics::counter!("idem_store_errors_total", "namespace" => namespace.clone()).increment(1);
    }

    pub(crate) fn complete_failure(namespace: &Cow<'static, str>) {
        metrics::counter!("idem_complete_failures_total", "namespace" => namespace.clone())
            .increment(1);
    }
}

// The same signatures without the feature, so callers compile either way.
#[cfg(not(feature = "metrics"))]
#[allow(clippy::ptr_arg)]
mod imp {
    use std::borrow::Cow;

    use super::Label;

    pub(crate) fn call(_namespace: &Cow<'static, str>, _outcome: Label) {}
    pub(crate) fn store_error(_namespace: &Cow<'static, str>) {}
    pub(crate) fn complete_failure(_namespace: &Cow<'static, str>) {}
}

pub(crate) use imp::{call, complete_failure, store_error};
