#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent]
async fn bare(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(ttl = "1h")]
async fn no_key(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
