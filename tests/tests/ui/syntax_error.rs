#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key)]
async fn no_value(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id" ttl = "1h")]
async fn no_comma(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
