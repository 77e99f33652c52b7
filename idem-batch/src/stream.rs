//! Kinesis and DynamoDB Streams: Lambda resumes a shard from the lowest
//! sequence number reported, so exactly that one is reported.

use std::cmp::Ordering;

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::{DynamoDbEventResponse, KinesisEventResponse};

use crate::failure::Source;
use crate::runner::{Plan, Records, Status};

/// How the records of a stream batch run.
///
/// Lambda checkpoints a shard up to the lowest sequence number a function
/// reports and delivers everything from there again, so a batch may run
/// records concurrently: with each record guarded by idem, the records after
/// a failure that already ran are *replayed* on redelivery, not run again.
/// What concurrency gives up is the order of the effects: with
/// [`Concurrent`](StreamOrder::Concurrent) a later record's effect can happen
/// before an earlier record's (and before a failed earlier record succeeds on
/// its retry). Choose the order your effects need.
///
/// ```
/// assert_eq!(idem_batch::StreamOrder::default(), idem_batch::StreamOrder::ByKey);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamOrder {
    /// Records with the same key (Kinesis partition key, DynamoDB item keys)
    /// run in sequence order, each key's records after the others' (the
    /// default): the order a shard promises per key is kept, and different
    /// keys run concurrently.
    #[default]
    ByKey,
    /// Every record concurrently (up to the batch's concurrency): fastest,
    /// no order between effects.
    Concurrent,
    /// One record at a time in sequence order, stopping at the first failure:
    /// effects in the shard's order, as without idem.
    InOrder,
}

/// Compares decimal sequence numbers of any length as numbers.
fn cmp_sequence(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The records of a stream batch in sequence order (batch order if a record
/// has no sequence number), with the plan for `order`.
fn plan<'a, R>(
    source: Source,
    records: &'a [R],
    sequence: impl Fn(&'a R) -> Option<&'a str>,
    key: impl Fn(&'a R) -> Option<String>,
    order: StreamOrder,
) -> (Records<'a, R>, Plan) {
    let mut items: Vec<(usize, &'a str, &'a R)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (i, sequence(r).unwrap_or_default(), r))
        .collect();
    if records.iter().all(|r| sequence(r).is_some()) {
        items.sort_by(|a, b| cmp_sequence(a.1, b.1).then(a.0.cmp(&b.0)));
    }
    let plan = match order {
        StreamOrder::Concurrent => Plan::each(items.len(), true),
        StreamOrder::InOrder => Plan::in_order(items.len()),
        StreamOrder::ByKey => {
            let keys: Vec<Option<String>> = items.iter().map(|&(_, _, r)| key(r)).collect();
            Plan::grouped(keys.iter().map(Option::as_deref), true)
        }
    };
    (Records { source, items }, plan)
}

/// The lowest failed or skipped sequence number, if any record failed.
/// Skipped records come after a failure, so this is the lowest failure; a
/// record without a sequence number is reported as `None`, which makes
/// Lambda retry the whole batch.
fn lowest_failure<'r, R>(records: &Records<'r, R>, statuses: &[Status]) -> Option<Option<String>> {
    records
        .items
        .iter()
        .zip(statuses)
        .find(|(_, status)| matches!(status, Status::Failed | Status::Skipped))
        .map(|((_, id, _), _)| Some((*id).to_owned()).filter(|id| !id.is_empty()))
}

pub(crate) fn kinesis_plan(
    event: &KinesisEvent,
    order: StreamOrder,
) -> (Records<'_, KinesisEventRecord>, Plan) {
    plan(
        Source::Kinesis,
        &event.records,
        |r| Some(r.kinesis.sequence_number.as_str()),
        |r| Some(r.kinesis.partition_key.clone()),
        order,
    )
}

pub(crate) fn kinesis_response(
    records: &Records<'_, KinesisEventRecord>,
    statuses: &[Status],
) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    if let Some(id) = lowest_failure(records, statuses) {
        let mut failure = aws_lambda_events::event::streams::KinesisBatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

pub(crate) fn dynamodb_plan(
    event: &DynamoDbEvent,
    order: StreamOrder,
) -> (Records<'_, EventRecord>, Plan) {
    plan(
        Source::DynamoDb,
        &event.records,
        |r| r.change.sequence_number.as_deref(),
        |r| {
            // The item's keys, canonically ordered: records of one item share it.
            let keys: std::collections::BTreeMap<_, _> = r.change.keys.iter().collect();
            serde_json::to_string(&keys).ok()
        },
        order,
    )
}

pub(crate) fn dynamodb_response(
    records: &Records<'_, EventRecord>,
    statuses: &[Status],
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(id) = lowest_failure(records, statuses) {
        let mut failure = aws_lambda_events::event::streams::DynamoDbBatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::cmp_sequence;
    use std::cmp::Ordering;

    #[test]
    fn sequence_numbers_compare_as_numbers_of_any_length() {
        assert_eq!(cmp_sequence("9", "10"), Ordering::Less);
        assert_eq!(
            cmp_sequence(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692540925702759324208523137515618"
            ),
            Ordering::Less
        );
        assert_eq!(cmp_sequence("0100", "100"), Ordering::Equal);
    }
}
