//! Testing support (feature `testing`): the store conformance suite, a manual
//! clock, a call-counting store, a fault-injecting store, and (re-exported
//! from [`store`](crate::store)) [`Intercept`] for writing wrappers of your
//! own.
//!
//! # Running the conformance suite on your own store
//!
//! ```
//! use std::sync::Arc;
//! use idem_core::{testing, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In your crate: `#[tokio::test] async fn conforms() { … }` with your store.
//! let report = testing::conformance(Arc::new(MemoryStore::new())).await;
//! assert!(report.checks > 40);
//! # }
//! ```
//!
//! The suite panics with a message naming the broken rule, like `assert!`.
//! It uses keys under a fresh random prefix, so it can run against a shared
//! table, and times near the real clock (a backend's own TTL sweeper, if it
//! has one, will not interfere).

mod clock;
mod conformance;
mod counting;
mod faulty;

pub use crate::store::{Intercept, Intercepted};
pub use clock::ManualClock;
pub use conformance::{conformance, ConformanceReport};
pub use counting::{Counting, Counts};
pub use faulty::{Faults, Faulty};
