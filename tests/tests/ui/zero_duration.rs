#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", ttl = "0s", lease = "0m", in_progress = "wait(0ms)")]
async fn charge(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
