#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", ttl = "1h", ttl = "2h")]
async fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
