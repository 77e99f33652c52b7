#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id")]
fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
