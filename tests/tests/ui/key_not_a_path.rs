#![allow(unused_variables)]

use idem_core::idempotent;

struct Order {
    order_id: String,
}

#[idempotent(key = "order..order_id")]
async fn double_dot(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "order.id()")]
async fn method_call(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "order-id")]
async fn dash(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
