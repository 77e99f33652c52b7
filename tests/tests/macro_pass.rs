//! `#[idempotent]` on every kind of function it supports: each compiles, and
//! runs with the behaviour of the programmatic call it expands to.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use idem_core::{current_key, idempotent, Clock, Error, Key, MemoryStore, Store, SystemClock};
use serde::{Deserialize, Serialize};

static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

async fn record_of(
    store: &dyn Store,
    namespace: &'static str,
    part: &str,
    value: &str,
) -> idem_core::store::Record {
    let key = Key::builder(namespace)
        .part(part, value)
        .finish()
        .expect("a key");
    store
        .get(key.storage_key(), SystemClock.now_ms())
        .await
        .expect("get")
        .expect("a record")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Order {
    order_id: String,
    customer: Customer,
    amount_cents: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Customer {
    id: u32,
    tenant: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Receipt {
    order_id: String,
    charged_cents: u64,
    run: u32,
}

fn order(id: &str) -> Order {
    Order {
        order_id: id.into(),
        customer: Customer {
            id: 7,
            tenant: "acme".into(),
        },
        amount_cents: 1250,
    }
}

#[derive(Debug, thiserror::Error)]
enum ChargeError {
    #[error("declined")]
    Declined,
    #[error(transparent)]
    Idem(#[from] Error),
}

static FREE_RUNS: AtomicU32 = AtomicU32::new(0);

/// Doc comments and attributes stay on the function.
#[idempotent(key = "order.order_id", ttl = "48h", store = &*STORE)]
#[must_use = "a charge has a receipt"]
pub(crate) async fn charge_borrowed(order: &Order) -> Result<Receipt, ChargeError> {
    let run = FREE_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Receipt {
        order_id: order.order_id.clone(),
        charged_cents: order.amount_cents,
        run,
    })
}

#[tokio::test]
async fn borrowed_argument_runs_once_and_replays() {
    let order = order("ord-borrowed");
    let first = charge_borrowed(&order).await.expect("charged");
    for _ in 0..3 {
        assert_eq!(charge_borrowed(&order).await.expect("replayed"), first);
    }
    assert_eq!(FREE_RUNS.load(Ordering::SeqCst), 1);
    let record = record_of(
        &*STORE,
        "macro_pass::charge_borrowed",
        "order.order_id",
        "ord-borrowed",
    )
    .await;
    let ttl_s = record
        .expires_at_s
        .saturating_sub(SystemClock.now_ms() / 1000);
    assert!(
        (172_790..=172_801).contains(&ttl_s),
        "ttl = 48h, got {ttl_s}s"
    );
}

static OWNED_RUNS: AtomicU32 = AtomicU32::new(0);

#[idempotent(key = "order.order_id", store = store)]
async fn charge_owned(order: Order, store: &MemoryStore) -> Result<String, ChargeError> {
    OWNED_RUNS.fetch_add(1, Ordering::SeqCst);
    // The body owns `order`; its key part was hashed before it moved here.
    let consumed: Order = order;
    Ok(consumed.order_id)
}

#[tokio::test]
async fn owned_argument_is_keyed_before_it_moves_into_the_body() {
    let store = MemoryStore::new();
    for _ in 0..3 {
        let id = charge_owned(order("ord-owned"), &store).await.expect("ok");
        assert_eq!(id, "ord-owned");
    }
    assert_eq!(OWNED_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(store.len(), 1);
}

static COMPOSITE_RUNS: AtomicU32 = AtomicU32::new(0);

#[idempotent(key = "order.customer.tenant, order.order_id", store = &*STORE)]
async fn composite(order: &Order) -> Result<u32, Error> {
    Ok(COMPOSITE_RUNS.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test]
async fn composite_keys_use_every_part() {
    let mut order = order("ord-composite");
    let a = composite(&order).await.expect("ok");
    assert_eq!(composite(&order).await.expect("ok"), a);
    order.customer.tenant = "globex".into();
    let b = composite(&order).await.expect("ok");
    assert_ne!(a, b, "another tenant is another key");
    order.amount_cents += 1; // not a key part
    assert_eq!(composite(&order).await.expect("ok"), b);
    assert_eq!(COMPOSITE_RUNS.load(Ordering::SeqCst), 2);
}

struct Billing {
    tenant: String,
    store: MemoryStore,
    runs: AtomicU32,
    charged: u64,
}

impl Billing {
    fn new(tenant: &str) -> Self {
        Billing {
            tenant: tenant.into(),
            store: MemoryStore::new(),
            runs: AtomicU32::new(0),
            charged: 0,
        }
    }

    #[idempotent(key = "self.tenant, order.order_id", store = &self.store)]
    async fn charge(&self, order: &Order) -> Result<u64, Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(order.amount_cents)
    }

    /// `&mut self`: the body mutates a field while the store, another
    /// field, stays borrowed by the call.
    #[idempotent(key = "order.order_id", store = &self.store, name = "billing::charge_mut")]
    async fn charge_mut(&mut self, order: Order) -> Result<u64, Error> {
        self.charged += order.amount_cents;
        Ok(self.charged)
    }

    /// `self` by value.
    #[idempotent(key = "self.tenant", store = &*STORE, name = "billing::close")]
    async fn close(self) -> Result<String, Error> {
        Ok(format!(
            "closed {} after {} runs",
            self.tenant,
            self.runs.into_inner()
        ))
    }
}

#[tokio::test]
async fn methods_key_on_self_fields() {
    let billing = Billing::new("acme");
    let other = Billing::new("globex");
    let order = order("ord-method");
    for _ in 0..3 {
        assert_eq!(billing.charge(&order).await.expect("ok"), 1250);
    }
    assert_eq!(billing.runs.load(Ordering::SeqCst), 1);
    assert_eq!(billing.store.len(), 1);
    other.charge(&order).await.expect("ok");
    assert_eq!(other.runs.load(Ordering::SeqCst), 1);

    let mut billing = billing;
    assert_eq!(billing.charge_mut(order.clone()).await.expect("ok"), 1250);
    assert_eq!(billing.charge_mut(order.clone()).await.expect("ok"), 1250);
    assert_eq!(billing.charged, 1250, "the &mut self body ran once");
    assert_eq!(
        billing.close().await.expect("ok"),
        "closed acme after 1 runs"
    );
}

trait Charger {
    async fn charge(&self, order: &Order) -> Result<u32, ChargeError>;
}

struct Declining {
    attempts: AtomicU32,
    store: Arc<MemoryStore>,
}

impl Charger for Declining {
    #[idempotent(key = "order.order_id", store = self.store.clone())]
    async fn charge(&self, order: &Order) -> Result<u32, ChargeError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt < 3 {
            return Err(ChargeError::Declined);
        }
        Ok(attempt)
    }
}

#[tokio::test]
async fn trait_impl_with_arc_store_releases_on_error() {
    let charger = Declining {
        attempts: AtomicU32::new(0),
        store: Arc::new(MemoryStore::new()),
    };
    let order = order("ord-trait");
    assert!(matches!(
        charger.charge(&order).await,
        Err(ChargeError::Declined)
    ));
    assert!(matches!(
        charger.charge(&order).await,
        Err(ChargeError::Declined)
    ));
    assert_eq!(charger.charge(&order).await.expect("third time"), 3);
    assert_eq!(charger.charge(&order).await.expect("replayed"), 3);
    assert_eq!(charger.attempts.load(Ordering::SeqCst), 3);
}

#[idempotent(key = "id", store = store)]
async fn generic<T, S>(id: &str, value: T, store: Arc<S>) -> Result<Vec<T>, Error>
where
    T: Serialize + serde::de::DeserializeOwned + Clone + Send,
    S: Store + ?Sized,
{
    Ok(vec![value.clone(), value])
}

#[tokio::test]
async fn generic_functions_and_dyn_store() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    assert_eq!(
        generic("g-1", 5u8, store.clone()).await.expect("ok"),
        [5, 5]
    );
    assert_eq!(
        generic("g-1", 6u8, store.clone()).await.expect("replayed"),
        [5, 5]
    );
    let strings = generic("g-2", "x".to_owned(), store.clone())
        .await
        .expect("ok");
    assert_eq!(strings, ["x", "x"]);
    let concrete = Arc::new(MemoryStore::new());
    assert_eq!(generic("g-1", 7u8, concrete).await.expect("ok"), [7, 7]);
}

static DEFAULT_RUNS: AtomicU32 = AtomicU32::new(0);

#[idempotent(key = "request_id")]
async fn default_store(request_id: u64) -> Result<u32, Error> {
    assert!(current_key().is_some(), "the body sees its key");
    Ok(DEFAULT_RUNS.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test]
async fn process_default_store_without_store_argument() {
    let id = SystemClock.now_ms();
    assert_eq!(default_store(id).await.expect("ok"), 0);
    assert_eq!(default_store(id).await.expect("replayed"), 0);
    assert_eq!(DEFAULT_RUNS.load(Ordering::SeqCst), 1);
}

// Cargo refuses one package as two dependencies of one crate, so the
// rename is done in Rust; idem-macros' unit tests check that the expansion
// then never names `idem_core`.
extern crate idem_core as idem_renamed;

mod facade {
    /// The runtime re-exported by some other crate, as `my_facade::idem`.
    pub(crate) use idem_core as idem;
}

#[idem_renamed::idempotent(crate = "idem_renamed", key = "id", store = &*STORE)]
async fn renamed(id: u32) -> Result<u32, idem_renamed::Error> {
    Ok(id * 2)
}

#[facade::idem::idempotent(crate = "crate::facade::idem", key = "id", store = &*STORE)]
async fn through_facade(id: u32) -> Result<u32, facade::idem::Error> {
    Ok(id * 3)
}

#[tokio::test]
async fn crate_override_names_the_renamed_runtime() {
    assert_eq!(renamed(21).await.expect("ok"), 42);
    assert_eq!(through_facade(14).await.expect("ok"), 42);
}

struct Invocation {
    request_id: String,
    deadline_ms: u64,
    deadline: Option<SystemTime>,
}

/// The end of the running call's lease, as the store has it.
async fn own_lease_until() -> u64 {
    let key = current_key().expect("inside the body");
    let record = STORE
        .get(key.storage_key(), SystemClock.now_ms())
        .await
        .expect("get")
        .expect("claimed");
    record.lease.expect("in progress").until_ms
}

#[idempotent(key = "event.request_id", deadline = event.deadline_ms, lease = "10m", ttl = "1h", store = &*STORE)]
async fn with_deadline(event: &Invocation) -> Result<u64, Error> {
    Ok(own_lease_until().await)
}

#[idempotent(key = "event.request_id", deadline = event.deadline, store = &*STORE)]
async fn with_optional_deadline(event: Invocation) -> Result<u64, Error> {
    Ok(own_lease_until().await)
}

#[tokio::test]
async fn deadline_from_a_struct_field_caps_the_lease() {
    let deadline_ms = SystemClock.now_ms() + 2_000;
    let event = Invocation {
        request_id: "req-deadline".into(),
        deadline_ms,
        deadline: None,
    };
    assert_eq!(with_deadline(&event).await.expect("ok"), deadline_ms);

    let deadline = SystemTime::now() + Duration::from_secs(1);
    let event = Invocation {
        request_id: "req-deadline-2".into(),
        deadline_ms: 0,
        deadline: Some(deadline),
    };
    let until = with_optional_deadline(event).await.expect("ok");
    let deadline_ms = u64::try_from(
        deadline
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits");
    assert_eq!(until, deadline_ms);

    let event = Invocation {
        request_id: "req-deadline-3".into(),
        deadline_ms: 0,
        deadline: None,
    };
    let until = with_optional_deadline(event).await.expect("ok");
    assert!(
        until > SystemClock.now_ms() + 200_000,
        "no deadline: the 5m lease"
    );
}

static ANYHOW_RUNS: AtomicU32 = AtomicU32::new(0);

#[idempotent(key = "id", store = &*STORE)]
async fn with_anyhow(id: &str, fail: bool) -> anyhow::Result<u32> {
    let run = ANYHOW_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    if fail {
        anyhow::bail!("transient failure {run}");
    }
    let parsed: u32 = "42".parse()?;
    Ok(parsed + run)
}

#[tokio::test]
async fn anyhow_result() {
    let err = with_anyhow("a-1", true).await.expect_err("fails");
    assert_eq!(err.to_string(), "transient failure 1");
    assert_eq!(with_anyhow("a-1", false).await.expect("ok"), 44);
    assert_eq!(with_anyhow("a-1", true).await.expect("replayed"), 44);
    assert_eq!(ANYHOW_RUNS.load(Ordering::SeqCst), 2);
}

#[idempotent(key = "id", store = &*STORE)]
async fn slow(id: &str, runs: &AtomicU32) -> Result<u32, Error> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(runs.fetch_add(1, Ordering::SeqCst))
}

/// A second caller of `slow`'s records that waits. Two `#[idempotent]`
/// functions may not share a namespace (that is a `NamespaceClash`); the
/// builder, which has no call site of its own, may join one on purpose.
async fn slow_waiting(id: &str, runs: &AtomicU32) -> Result<u32, Error> {
    idem_core::Idempotent::new("macro_pass::slow")
        .store(&*STORE)
        .in_progress(idem_core::InProgress::Wait(Some(Duration::from_secs(5))))
        .key("id", id)
        .run(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(runs.fetch_add(1, Ordering::SeqCst))
        })
        .await
}

#[tokio::test]
async fn concurrent_duplicates_fail_or_wait() {
    let runs = AtomicU32::new(0);
    let (a, b) = tokio::join!(slow("c-1", &runs), slow("c-1", &runs));
    assert!(a.is_ok());
    assert!(matches!(b, Err(Error::InProgress { .. })), "{b:?}");

    let (a, b) = tokio::join!(slow("c-2", &runs), slow_waiting("c-2", &runs));
    assert_eq!(a.expect("ran"), 1);
    assert_eq!(b.expect("waited for the result"), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[derive(Serialize)]
struct Message {
    id: Option<String>,
    body: String,
}

#[idempotent(key = "msg.id", store = &*STORE, on_missing_key = "run")]
async fn lenient(msg: &Message, runs: &AtomicU32) -> Result<u32, Error> {
    Ok(runs.fetch_add(1, Ordering::SeqCst))
}

#[idempotent(key = "msg.id", store = &*STORE, on_missing_key = "error", validate = "msg.body")]
async fn strict(msg: &Message, runs: &AtomicU32) -> Result<u32, Error> {
    Ok(runs.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test]
async fn missing_keys_and_payload_validation() {
    let runs = AtomicU32::new(0);
    let anonymous = Message {
        id: None,
        body: "hi".into(),
    };
    lenient(&anonymous, &runs).await.expect("runs");
    lenient(&anonymous, &runs).await.expect("runs again");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(matches!(
        strict(&anonymous, &runs).await,
        Err(Error::MissingKey { part, .. }) if part == "msg.id"
    ));

    let mut msg = Message {
        id: Some("m-1".into()),
        body: "hi".into(),
    };
    assert_eq!(strict(&msg, &runs).await.expect("ok"), 2);
    assert_eq!(strict(&msg, &runs).await.expect("replayed"), 2);
    msg.body = "changed".into();
    assert!(matches!(
        strict(&msg, &runs).await,
        Err(Error::PayloadMismatch { .. })
    ));
}

#[tokio::test]
async fn namespaces_are_module_path_and_fn_name_or_name() {
    #[idempotent(key = "id", store = store)]
    async fn inner(id: &str, store: &MemoryStore) -> Result<String, Error> {
        Ok(current_key().expect("key").namespace().to_owned())
    }
    #[idempotent(key = "id", store = store, name = "custom::ns")]
    async fn named(id: &str, store: &MemoryStore) -> Result<String, Error> {
        Ok(current_key().expect("key").namespace().to_owned())
    }
    let store = MemoryStore::new();
    assert_eq!(inner("n", &store).await.expect("ok"), "macro_pass::inner");
    assert_eq!(named("n", &store).await.expect("ok"), "custom::ns");
}

#[test]
fn the_macro_knows_the_default_ttl_and_lease() {
    // idem-macros compares `lease` against `ttl` at compile time with these
    // defaults hard-coded; this pins them together.
    assert_eq!(idem_core::DEFAULT_TTL, Duration::from_secs(3600));
    assert_eq!(idem_core::DEFAULT_LEASE, Duration::from_secs(300));
}

#[tokio::test]
async fn futures_are_send() {
    fn assert_send<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    let order = order("ord-send");
    let handle = tokio::spawn(async move {
        assert_send(charge_borrowed(&order))
            .await
            .map(|r| r.order_id)
    });
    assert_eq!(handle.await.expect("joined").expect("ok"), "ord-send");
}

// Two types in one module with a method of the same name: the `Self` type
// is part of each default namespace, so they never share records.
struct Stripe;
struct Paypal;

impl Stripe {
    #[idempotent(key = "order_id", store = &*STORE)]
    async fn charge(&self, order_id: &str) -> Result<String, Error> {
        Ok(format!("stripe charged {order_id}"))
    }
}

impl Paypal {
    #[idempotent(key = "order_id", store = &*STORE)]
    async fn charge(&self, order_id: &str) -> Result<String, Error> {
        Ok(format!("paypal charged {order_id}"))
    }
}

#[tokio::test]
async fn same_named_methods_of_two_types_keep_their_own_records() {
    assert_eq!(Stripe.charge("o-77").await.unwrap(), "stripe charged o-77");
    assert_eq!(Paypal.charge("o-77").await.unwrap(), "paypal charged o-77");
    assert_eq!(Stripe.charge("o-77").await.unwrap(), "stripe charged o-77");
    let ns = Key::builder("macro_pass::Paypal::charge")
        .part("order_id", "o-77")
        .finish()
        .unwrap();
    assert!(
        STORE
            .get(ns.storage_key(), SystemClock.now_ms())
            .await
            .unwrap()
            .is_some(),
        "the namespace is module::Type::method"
    );
}

// Two functions pinned to one namespace: the second to run fails loudly.
#[idempotent(key = "id", name = "macro_pass::shared", store = &*STORE)]
async fn shared_first(id: &str) -> Result<String, Error> {
    Ok(format!("first {id}"))
}

#[idempotent(key = "id", name = "macro_pass::shared", store = &*STORE)]
async fn shared_second(id: &str) -> Result<String, Error> {
    Ok(format!("second {id}"))
}

#[tokio::test]
async fn two_functions_with_one_namespace_are_a_loud_error_naming_both() {
    assert_eq!(shared_first("s-1").await.unwrap(), "first s-1");
    match shared_second("s-1").await {
        Err(Error::NamespaceClash {
            namespace,
            first,
            second,
        }) => {
            assert_eq!(namespace, "macro_pass::shared");
            assert!(first.contains("macro_pass.rs") && second.contains("macro_pass.rs"));
            assert_ne!(first, second);
        }
        other => panic!("expected a clash, got {other:?}"),
    }
    // The first keeps working.
    assert_eq!(shared_first("s-1").await.unwrap(), "first s-1");
}
