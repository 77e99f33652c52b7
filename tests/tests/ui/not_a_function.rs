#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id")]
struct Charge {
    id: String,
}

trait Charger {
    #[idempotent(key = "id")]
    async fn charge(&self, id: &str) -> Result<(), idem_core::Error>;
}

fn main() {}
