#![allow(unused_variables)]

use idem_core::idempotent;

struct Order {
    order_id: String,
}

#[idempotent(key = "order.order_idd")]
async fn charge(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
