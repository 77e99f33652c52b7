#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id")]
async fn name(id: &str) -> Result<&'static str, idem_core::Error> {
    Ok("borrowed")
}

#[idempotent(key = "id")]
async fn lines(id: &str) -> Result<Vec<&'static [u8]>, idem_core::Error> {
    Ok(vec![])
}

fn main() {}
