#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id")]
async fn pair((id, amount): (String, u64)) -> Result<u8, idem_core::Error> {
    Ok(1)
}

fn main() {}
