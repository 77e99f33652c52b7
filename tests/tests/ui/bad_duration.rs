#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", ttl = "48 hours", lease = "90")]
async fn ttl_and_lease(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id", ttl = "2w", in_progress = "wait(soon)")]
async fn unit_and_wait(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id", ttl = "")]
async fn empty(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
