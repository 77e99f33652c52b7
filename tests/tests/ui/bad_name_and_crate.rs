#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", name = " ", crate = "idem core")]
async fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
