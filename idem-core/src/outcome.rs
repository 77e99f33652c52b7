//! Whether a result was executed now or replayed: for replay headers, logs
//! and per-route metrics.

use std::cell::Cell;
use std::future::Future;

/// How a successful guarded call got its result.
///
/// [`Idempotent::run_with_outcome`](crate::Idempotent::run_with_outcome)
/// returns it beside the value; around an `#[idempotent]` function, wrap the
/// call in [`observe`].
///
/// ```
/// use idem_core::{Error, Idempotent, MemoryStore, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let store = MemoryStore::new();
/// let call = || Idempotent::new("docs::outcome").store(&store).key("id", "a-1");
/// let (_, first) = call().run_with_outcome(|| async { Ok::<_, Error>(7) }).await?;
/// let (_, again) = call().run_with_outcome(|| async { Ok::<_, Error>(7) }).await?;
/// assert_eq!((first, again), (Outcome::Executed, Outcome::Replayed));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The body ran in this call (its result saved, or saving failed and was
    /// logged).
    Executed,
    /// The saved result of an earlier call; the body did not run.
    Replayed,
    /// The body ran without idempotency: a key part was missing under
    /// `on_missing_key = "run"`, or `IDEM_DISABLED` is set.
    Unguarded,
}

impl Outcome {
    /// `executed`, `replayed` or `unguarded`: the `outcome` label of the
    /// metrics and the span.
    ///
    /// ```
    /// assert_eq!(idem_core::Outcome::Replayed.as_str(), "replayed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Replayed => "replayed",
            Outcome::Unguarded => "unguarded",
        }
    }

    /// Whether the result was replayed (the body did not run).
    ///
    /// ```
    /// assert!(idem_core::Outcome::Replayed.is_replayed());
    /// assert!(!idem_core::Outcome::Executed.is_replayed());
    /// ```
    pub fn is_replayed(self) -> bool {
        self == Outcome::Replayed
    }
}

tokio::task_local! {
    static OBSERVED: Cell<Option<Outcome>>;
}

/// Runs `call` and reports how the last guarded call inside it that
/// succeeded got its result: the way to learn the outcome of an
/// `#[idempotent]` function, whose signature stays as written.
///
/// `None` when no guarded call inside `call` returned `Ok` (it failed, or
/// there was none). Calls that do not ask pay one task-local lookup.
///
/// ```
/// use idem_core::{idempotent, observe, MemoryStore, Outcome};
///
/// static STORE: std::sync::LazyLock<MemoryStore> = std::sync::LazyLock::new(MemoryStore::new);
///
/// #[idempotent(key = "id", store = &*STORE)]
/// async fn ship(id: &str) -> Result<String, idem_core::Error> {
///     Ok(format!("shipped {id}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (first, outcome) = observe(ship("p-1")).await;
/// assert_eq!((first.unwrap().as_str(), outcome), ("shipped p-1", Some(Outcome::Executed)));
/// let (_, outcome) = observe(ship("p-1")).await;
/// assert_eq!(outcome, Some(Outcome::Replayed));
/// # }
/// ```
pub async fn observe<F: Future>(call: F) -> (F::Output, Option<Outcome>) {
    OBSERVED
        .scope(Cell::new(None), async move {
            let output = call.await;
            (output, OBSERVED.with(Cell::get))
        })
        .await
}

/// Tells an enclosing [`observe`], if there is one.
#[inline]
pub(crate) fn report(outcome: Outcome) {
    // Not observed: the lookup fails, nothing else happens.
    let _ = OBSERVED.try_with(|slot| slot.set(Some(outcome)));
}
