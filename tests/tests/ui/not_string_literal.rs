#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = id, ttl = 3600, name = charge, crate = idem_core)]
async fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
