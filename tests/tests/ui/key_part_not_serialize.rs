#![allow(unused_variables)]

use idem_core::idempotent;

struct Customer {
    id: u32,
}

struct Order {
    customer: Customer,
}

#[idempotent(key = "order.customer")]
async fn charge(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "order.customer.id", validate = "order")]
async fn validated(order: &Order) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
