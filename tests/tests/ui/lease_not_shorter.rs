#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", ttl = "10m", lease = "10m")]
async fn equal(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id", lease = "2h")]
async fn longer_than_default_ttl(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id", ttl = "1m")]
async fn shorter_than_default_lease(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
