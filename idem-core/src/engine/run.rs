//! Running a call: planning it (key, fingerprint, store), then its span,
//! metrics and outcome around the claim loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use super::builder::Idempotent;
use super::call::Call;
use super::policy::OnMissingKey;
use crate::error::Error;
use crate::key::KeyError;
use crate::outcome::{self, Outcome};
use crate::telemetry::{self, Label};

impl<'a> Idempotent<'a> {
    /// Runs `body` at most once per key within `ttl` and returns its result,
    /// or the saved result of the call that ran it.
    ///
    /// The key (and fingerprint) are finished when `run` is called, so the
    /// future it returns holds the finished key, not the builder; nothing
    /// touches the store until it is awaited.
    ///
    /// Errors of idem itself reach the caller as `E::from(idem_core::Error)`.
    ///
    /// ```
    /// use idem_core::{Idempotent, MemoryStore};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum ChargeError {
    ///     #[error("card declined")]
    ///     Declined,
    ///     #[error(transparent)]
    ///     Idem(#[from] idem_core::Error),
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = MemoryStore::new();
    /// let missing: Option<String> = None;
    /// let result = Idempotent::new("docs::run")
    ///     .store(&store)
    ///     .key("order_id", &missing)
    ///     .run(|| async { Err::<u64, _>(ChargeError::Declined) })
    ///     .await;
    /// // The key was missing, so the body never ran: idem's error, in the caller's type.
    /// assert!(matches!(result, Err(ChargeError::Idem(idem_core::Error::MissingKey { .. }))));
    /// # }
    /// ```
    #[inline]
    pub fn run<T, E, F, Fut>(
        self,
        body: F,
    ) -> impl Future<Output = Result<T, E>> + use<'a, T, E, F, Fut>
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Not an `async` block awaiting the call: that would hold the call's
        // future twice (once captured, once awaited), doubling its size.
        WithoutOutcome {
            call: self.run_with_outcome(body),
        }
    }

    /// [`run`](Self::run), also saying whether the result was executed now or
    /// replayed ([`Outcome`]): for a replay header, logs or metrics.
    ///
    /// ```
    /// use idem_core::{Error, Idempotent, MemoryStore, Outcome};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let store = MemoryStore::new();
    /// for expected in [Outcome::Executed, Outcome::Replayed] {
    ///     let (body, outcome) = Idempotent::new("docs::run_with_outcome")
    ///         .store(&store)
    ///         .key("request_id", "r-1")
    ///         .run_with_outcome(|| async { Ok::<_, Error>(String::from("created")) })
    ///         .await?;
    ///     assert_eq!((body.as_str(), outcome), ("created", expected));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn run_with_outcome<T, E, F, Fut>(
        mut self,
        body: F,
    ) -> impl Future<Output = Result<(T, Outcome), E>> + use<'a, T, E, F, Fut>
    where
        T: Serialize + DeserializeOwned,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Planned now rather than in the future: a future that kept the
        // builder (and the hashing state) would copy it at every move, a
        // visible share of a replay. The arms below borrow the plan for the
        // same reason. The namespace is its own copy (a pointer copy for the
        // macro's static ones): reading it back out of the plan measured
        // 7 ns slower per replay.
        let namespace = self.key.namespace().clone();
        let plan = self.plan();
        let span = match &plan {
            // Off: no span, no metrics, the body as is.
            Plan::Disabled(_) => tracing::Span::none(),
            _ => tracing::info_span!(
                "idempotent",
                namespace = %namespace,
                key = tracing::field::Empty,
                outcome = tracing::field::Empty,
            ),
        };
        if let Plan::Guarded(call) = &plan {
            span.record("key", tracing::field::display(call.key.short()));
        }
        let outcome_span = span.clone();
        async move {
            let (label, result) = match plan {
                Plan::Disabled(key) => {
                    // The key still reaches the body, so code that passes it
                    // downstream works the same with idempotency off.
                    // The body's future is boxed on the paths that run it
                    // unguarded: inline, it would size every call's future.
                    let result = match key {
                        Some(key) => Box::pin(crate::context::scope(key, body())).await,
                        None => Box::pin(body()).await,
                    };
                    if result.is_ok() {
                        outcome::report(Outcome::Unguarded);
                    }
                    return result.map(|v| (v, Outcome::Unguarded));
                }
                Plan::Guarded(ref call) => call.execute(body).await,
                Plan::Unguarded { ref part } => {
                    tracing::warn!(%part, "idempotency key part missing; running without idempotency");
                    (Label::Unguarded, Box::pin(body()).await)
                }
                Plan::Failed(e) => (Label::Error, Err(e.into())),
            };
            outcome_span.record("outcome", label.as_str());
            telemetry::call(&namespace, label);
            let outcome = match label {
                Label::Executed => Outcome::Executed,
                Label::Replayed => Outcome::Replayed,
                _ => Outcome::Unguarded,
            };
            if result.is_ok() {
                outcome::report(outcome);
            }
            result.map(|v| (v, outcome))
        }
        .instrument(span)
    }

    /// Finishes the key and fingerprint and resolves the store. By
    /// reference, so the builder is read where it lies; it is spent after.
    fn plan(&mut self) -> Plan<'a> {
        if crate::disabled() {
            return Plan::Disabled(self.key.finish_in_place().ok());
        }
        if let Some(site) = self.site {
            if let Err(clash) = site.register(self.key.namespace()) {
                return Plan::Failed(clash);
            }
        }
        let key = match self.key.finish_in_place() {
            Ok(key) => key,
            Err(KeyError::Missing { part, .. }) if self.on_missing_key == OnMissingKey::Run => {
                return Plan::Unguarded { part };
            }
            Err(e) => return Plan::Failed(key_error(e, None)),
        };
        let fingerprint = match self.fingerprint.take().map(|fp| fp.finish()).transpose() {
            Ok(fingerprint) => fingerprint,
            Err(e) => return Plan::Failed(key_error(e, Some(key.namespace()))),
        };
        let store = match self.store {
            Some(store) => crate::default::StoreHandle::Borrowed(store),
            None => match crate::default::store() {
                Ok(store) => store,
                Err(reason) => {
                    return Plan::Failed(Error::NoStore {
                        namespace: key.namespace().to_owned(),
                        reason,
                    })
                }
            },
        };
        Plan::Guarded(Call {
            key,
            fingerprint,
            store,
            clock: self.clock,
            ttl: self.ttl,
            lease: self.lease.min(self.ttl),
            deadline_ms: self.deadline_ms,
            in_progress: self.in_progress,
            on_cancel: self.on_cancel,
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Idempotent::run`]: the call's, without its outcome.
    struct WithoutOutcome<F> {
        #[pin]
        call: F,
    }
}

impl<F, T, E> Future for WithoutOutcome<F>
where
    F: Future<Output = Result<(T, Outcome), E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .call
            .poll(cx)
            .map(|result| result.map(|(value, _)| value))
    }
}

/// What `run` found before touching the store.
enum Plan<'a> {
    /// `IDEM_DISABLED`: the body runs as is, unobserved (with the key, if
    /// it could be had, for `current_key()`).
    Disabled(Option<crate::key::Key>),
    /// Key finished, store known: the claim loop runs.
    Guarded(Call<'a>),
    /// A key part is missing and `on_missing_key = run`.
    Unguarded { part: String },
    /// The key, fingerprint or store could not be had.
    Failed(Error),
}

/// A key or fingerprint error as the caller sees it. Fingerprint builders
/// have no namespace of their own, so theirs is passed in.
fn key_error(e: KeyError, namespace: Option<&str>) -> Error {
    let ns = |own: String| namespace.map_or(own, str::to_owned);
    match e {
        KeyError::Missing { namespace, part } => Error::MissingKey {
            namespace: ns(namespace),
            part,
        },
        KeyError::Unhashable {
            namespace,
            part,
            reason,
        } => Error::InvalidKey {
            namespace: ns(namespace),
            part,
            reason,
        },
    }
}
