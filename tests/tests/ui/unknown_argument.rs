#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", tll = "1h", retries = 3)]
async fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
