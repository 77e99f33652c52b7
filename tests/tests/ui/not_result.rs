#![allow(unused_variables)]

use idem_core::idempotent;

#[idempotent(key = "id")]
async fn unit(id: &str) {}

#[idempotent(key = "id")]
async fn plain(id: &str) -> u32 {
    1
}

#[idempotent(key = "id")]
async fn option(id: &str) -> Option<u32> {
    Some(1)
}

mod alias {
    /// Named `Result`, but not one.
    pub type Result = u32;
}

#[idempotent(key = "id")]
async fn fake_alias(id: &str) -> alias::Result {
    1
}

fn main() {}
