#![allow(unused_variables)]

use idem_core::{idempotent, MemoryStore};

pub struct Event {
    pub id: String,
    pub deadline: u64,
}

// `deadline` and `store` are expressions, not strings like `key`.
#[idempotent(key = "event.id", deadline = "event.deadline", store = "store")]
async fn handle(event: &Event, store: &MemoryStore) -> Result<(), idem_core::Error> {
    Ok(())
}

fn main() {}
