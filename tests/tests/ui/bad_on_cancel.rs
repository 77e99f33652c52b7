#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", on_cancel = "sometimes")]
async fn charge(id: &str) -> Result<u8, idem_core::Error> {
    Ok(1)
}

fn main() {}
