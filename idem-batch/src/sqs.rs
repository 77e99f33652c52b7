//! SQS: standard queues (every record concurrently) and FIFO queues (in order
//! within a message group; a failed group's later messages are not run).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::failure::Source;
use crate::runner::{Plan, Records, Status};

/// The attribute naming a FIFO message's group.
const MESSAGE_GROUP_ID: &str = "MessageGroupId";

/// Whether `event` comes from a FIFO queue: an event source ARN ending in
/// `.fifo`, or a `MessageGroupId` attribute, on any record.
///
/// ```
/// use aws_lambda_events::event::sqs::SqsEvent;
///
/// let fifo: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
///     "messageId": "m-1",
///     "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
/// }]})).unwrap();
/// assert!(idem_batch::is_fifo(&fifo));
/// assert!(!idem_batch::is_fifo(&SqsEvent::default()));
/// ```
pub fn is_fifo(event: &SqsEvent) -> bool {
    event.records.iter().any(|m| {
        m.attributes.contains_key(MESSAGE_GROUP_ID)
            || m.event_source_arn
                .as_deref()
                .is_some_and(|arn| arn.ends_with(".fifo"))
    })
}

/// The records and the plan of an SQS batch.
pub(crate) fn plan(event: &SqsEvent) -> (Records<'_, SqsMessage>, Plan) {
    let fifo = is_fifo(event);
    let records = Records {
        source: if fifo { Source::SqsFifo } else { Source::Sqs },
        items: event
            .records
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m.message_id.as_deref().unwrap_or_default(), m))
            .collect(),
    };
    let plan = if fifo {
        Plan::grouped(
            event
                .records
                .iter()
                .map(|m| m.attributes.get(MESSAGE_GROUP_ID).map(String::as_str)),
            false,
        )
    } else {
        Plan::each(event.records.len(), false)
    };
    (records, plan)
}

/// Every failed or skipped message, by message id, in batch order. A message
/// without an id is reported with an empty one, which makes Lambda retry the
/// whole batch: never a message lost.
pub(crate) fn response(records: &Records<'_, SqsMessage>, statuses: &[Status]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for ((_, id, _), status) in records.items.iter().zip(statuses) {
        if matches!(status, Status::Failed | Status::Skipped) {
            response.add_failure(*id);
        }
    }
    response
}
