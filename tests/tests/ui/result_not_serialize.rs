#![allow(unused_variables)]

use idem_core::idempotent;

struct Receipt {
    amount: u64,
}

#[derive(serde::Serialize)]
struct SerializeOnly {
    amount: u64,
}

#[idempotent(key = "id")]
async fn charge(id: &str) -> Result<Receipt, idem_core::Error> {
    Ok(Receipt { amount: 1 })
}

#[idempotent(key = "id")]
async fn half(id: &str) -> Result<SerializeOnly, idem_core::Error> {
    Ok(SerializeOnly { amount: 1 })
}

fn main() {}
