#![allow(unused_variables)]

use idem_core::idempotent;

struct Order {
    order_id: String,
}

// Every mistake of one attribute, reported in one compile.
#[idempotent(
    key = "ordr.order_id, order.",
    ttl = "1 day",
    lease = "0s",
    in_progress = "later",
    on_missing_key = "ignore",
    stor = &STORE,
    key = "order.order_id"
)]
fn charge(order: &Order) -> u64 {
    1
}

fn main() {
    // The function is still emitted as written, so its callers compile.
    let _ = charge(&Order { order_id: String::new() });
}
