#![allow(unused_variables)]

use idem_core::idempotent;

#[derive(Debug)]
enum ChargeError {
    Declined,
}

#[idempotent(key = "id")]
async fn charge(id: &str) -> Result<u64, ChargeError> {
    Err(ChargeError::Declined)
}

mod app {
    pub type Result<T> = std::result::Result<T, super::ChargeError>;
}

#[idempotent(key = "id")]
async fn alias(id: &str) -> app::Result<u64> {
    Ok(1)
}

fn main() {}
