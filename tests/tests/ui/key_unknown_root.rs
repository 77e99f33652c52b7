#![allow(unused_variables)]

use idem_core::idempotent;

struct Order {
    order_id: String,
}

#[idempotent(key = "ordr.order_id")]
async fn typo(order: &Order, attempt: u32) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "self.tenant")]
async fn not_a_method(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "request")]
async fn no_parameters() -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
