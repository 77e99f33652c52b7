//! `crash-child`: one guarded call against DynamoDB Local that stops at a
//! chosen point and waits there to be killed (SIGKILL) by the reliability
//! suite's crash tests (`tests/tests/reliability_crash.rs`).
//!
//! ```text
//! crash-child <endpoint> <table> <namespace> <id> <point> <lease-ms>
//! ```
//!
//! `point` is one of
//! - `after-claim`: the claim was acquired, the body has not started;
//! - `in-body`: the body runs (its effect is under way; the engine renews
//!   the lease meanwhile);
//! - `before-complete`: the body returned `Ok`, `complete` has not reached
//!   the store;
//! - `after-complete`: the call returned its result.
//!
//! Protocol on stdout, one line each, flushed: `BODY <storage key>` when the
//! body starts, then `AT <point>` when the point is reached; the child then
//! sleeps until it is killed. Exit code 2 means bad arguments, 3 that the
//! guarded call failed before reaching its point.

use std::io::Write;
use std::time::Duration;

use idem_core::store::{Claim, ClaimRequest, Completion, StoreFuture};
use idem_core::testing::{Intercept, Intercepted};
use idem_core::{current_key, Idempotent, Store};
use idem_dynamo::DynamoStore;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Point {
    AfterClaim,
    InBody,
    BeforeComplete,
    AfterComplete,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // The parent reads these lines; a broken pipe means it is gone anyway.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Announces the point, then waits to be killed.
async fn stop_at(point: &str) -> ! {
    say(&format!("AT {point}"));
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// DynamoStore, stopping at the store-side points.
struct Pausing {
    inner: DynamoStore,
    point: Point,
}

impl Intercept for Pausing {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(async move {
            let claim = self.inner.claim(request).await;
            if self.point == Point::AfterClaim && matches!(claim, Ok(Claim::Acquired(_))) {
                stop_at("after-claim").await;
            }
            claim
        })
    }
    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if self.point == Point::BeforeComplete {
                stop_at("before-complete").await;
            }
            self.inner.complete(completion).await
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, table, namespace, id, point, lease_ms] = args.as_slice() else {
        eprintln!("usage: crash-child <endpoint> <table> <namespace> <id> <point> <lease-ms>");
        std::process::exit(2);
    };
    let point = match point.as_str() {
        "after-claim" => Point::AfterClaim,
        "in-body" => Point::InBody,
        "before-complete" => Point::BeforeComplete,
        "after-complete" => Point::AfterComplete,
        other => {
            eprintln!("unknown point `{other}`");
            std::process::exit(2);
        }
    };
    let Ok(lease_ms) = lease_ms.parse::<u64>() else {
        eprintln!("lease-ms must be an integer");
        std::process::exit(2);
    };
    let store = Intercepted(Pausing {
        inner: DynamoStore::new(idem_tests::client(endpoint), table),
        point,
    });
    let result: Result<String, idem_core::Error> = Idempotent::new(namespace.clone())
        .store(&store)
        .lease(Duration::from_millis(lease_ms))
        .key("id", id)
        .run(|| async {
            let key = current_key().map(|k| k.storage_key().to_owned());
            say(&format!("BODY {}", key.unwrap_or_default()));
            if point == Point::InBody {
                stop_at("in-body").await;
            }
            Ok(format!("child {}", std::process::id()))
        })
        .await;
    match result {
        Ok(value) => {
            say(&format!("RESULT {value}"));
            if point == Point::AfterComplete {
                stop_at("after-complete").await;
            }
        }
        Err(e) => {
            eprintln!("crash-child: the guarded call failed: {e}");
            std::process::exit(3);
        }
    }
}
