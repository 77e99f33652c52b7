#![allow(unused_variables)]

use idem_core::idempotent;

#[derive(Debug)]
struct Declined;

// Type errors in the body land in the body, not in the expansion.
#[idempotent(key = "id")]
async fn charge(id: &str) -> Result<u64, idem_core::Error> {
    if id.is_empty() {
        return Ok("zero");
    }
    let parsed: u64 = id.parse().map_err(|_| Declined)?;
    Ok(parsed)
}

fn main() {}
