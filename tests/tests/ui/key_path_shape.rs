#![allow(unused_variables)]

use idem_core::idempotent;

// Steps that do not parse, and `json(…)` around more than a field path.
#[idempotent(key = "body[], json(body[x]), body[-1], body..x")]
async fn shapes(body: &serde_json::Value) -> Result<u8, idem_core::Error> {
    Ok(1)
}

fn main() {}
