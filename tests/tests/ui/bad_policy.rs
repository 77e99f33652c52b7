#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id", in_progress = "retry")]
async fn in_progress(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id", on_missing_key = "skip")]
async fn on_missing_key(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
