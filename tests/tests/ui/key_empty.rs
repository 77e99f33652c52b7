#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "")]
async fn empty(id: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

#[idempotent(key = "id,,tenant")]
async fn empty_part(id: &str, tenant: &str) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
