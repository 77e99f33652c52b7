#![allow(unused_variables)]

use idem_core::idempotent;

#[derive(serde::Serialize)]
struct Event {
    id: String,
    detail: Option<Detail>,
}

#[derive(serde::Serialize)]
struct Detail {
    order_id: String,
}

// `?` after a field that is not an `Option`.
#[idempotent(key = "event.id?")]
async fn through_string(event: &Event) -> Result<u8, idem_core::Error> {
    Ok(1)
}

// A path through an `Option` without `?`.
#[idempotent(key = "event.detail.order_id")]
async fn missing_question_mark(event: &Event) -> Result<u8, idem_core::Error> {
    Ok(1)
}

// `[member]` on a struct: fields are `.name`.
#[idempotent(key = "event[id]")]
async fn bracket_on_struct(event: &Event) -> Result<u8, idem_core::Error> {
    Ok(1)
}

// A `Value` member written as a field.
#[idempotent(key = "detail.order_id")]
async fn field_on_value(detail: &serde_json::Value) -> Result<u8, idem_core::Error> {
    Ok(1)
}

fn main() {}
