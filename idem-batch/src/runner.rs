//! Runs a batch's records as lanes: each lane in order, stopping at its first
//! failure; lanes concurrently, at most `concurrency` at a time; every
//! record's panic caught.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{FutureExt, StreamExt};

use crate::failure::{Failure, OnFailure, Reason, Source, Verdict};

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The function returned `Ok`.
    Succeeded,
    /// It failed and the failure handler took it ([`Verdict::Handled`]).
    Handled,
    /// It failed (or panicked): report it.
    Failed,
    /// Not run: an earlier record of its lane failed, or (with a cutoff) an
    /// earlier record of the batch did. Redelivered with the failure.
    Skipped,
}

/// How a batch's records are run.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Lanes of positions (into the records given to [`run`]), each run in
    /// order; every position is in exactly one lane.
    pub(crate) lanes: Vec<Vec<usize>>,
    /// Do not start a record after the earliest known failure (streams, where
    /// the source redelivers everything after it anyway).
    pub(crate) cutoff: bool,
}

impl Plan {
    /// Every record alone: all may run concurrently.
    pub(crate) fn each(len: usize, cutoff: bool) -> Self {
        Plan {
            lanes: (0..len).map(|i| vec![i]).collect(),
            cutoff,
        }
    }

    /// Records grouped by `key`, in order within a group (groups in the order
    /// of their first record). Records without a key are lanes of their own.
    pub(crate) fn grouped<'k>(
        keys: impl IntoIterator<Item = Option<&'k str>>,
        cutoff: bool,
    ) -> Self {
        let mut lanes: Vec<Vec<usize>> = Vec::new();
        let mut lane_of: std::collections::HashMap<&str, usize> = Default::default();
        for (position, key) in keys.into_iter().enumerate() {
            match key {
                Some(key) => {
                    let lane = *lane_of.entry(key).or_insert_with(|| {
                        lanes.push(Vec::new());
                        lanes.len() - 1
                    });
                    lanes[lane].push(position);
                }
                None => lanes.push(vec![position]),
            }
        }
        Plan { lanes, cutoff }
    }

    /// One lane: strictly in order, stopping at the first failure.
    pub(crate) fn in_order(len: usize) -> Self {
        Plan {
            lanes: vec![(0..len).collect()],
            cutoff: true,
        }
    }
}

/// The records of one batch, in the order the plan's positions refer to.
pub(crate) struct Records<'a, R> {
    pub(crate) source: Source,
    /// `(index in the event, id, record)`.
    pub(crate) items: Vec<(usize, &'a str, &'a R)>,
}

/// Runs `f` over the records as `plan` says; returns each position's status.
pub(crate) async fn run<'a, R, F, Fut, T, E, H>(
    records: &Records<'a, R>,
    plan: Plan,
    concurrency: usize,
    f: &F,
    on_failure: &H,
) -> Vec<Status>
where
    F: Fn(&'a R) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    H: OnFailure<R, E>,
{
    // The earliest position known to have failed (cutoff plans only).
    let earliest_failure = AtomicUsize::new(usize::MAX);
    let cutoff = plan.cutoff;
    let lanes = plan.lanes.into_iter().map(|lane| {
        let earliest_failure = &earliest_failure;
        async move {
            let mut statuses = Vec::with_capacity(lane.len());
            let mut lane_failed = false;
            for position in lane {
                let skip =
                    lane_failed || (cutoff && earliest_failure.load(Ordering::Acquire) < position);
                let status = if skip {
                    Status::Skipped
                } else {
                    run_one(records, position, f, on_failure).await
                };
                if status == Status::Failed {
                    lane_failed = true;
                    earliest_failure.fetch_min(position, Ordering::AcqRel);
                }
                statuses.push((position, status));
            }
            statuses
        }
    });
    let mut statuses = vec![Status::Skipped; records.items.len()];
    let mut done = futures_util::stream::iter(lanes).buffer_unordered(concurrency.max(1));
    while let Some(lane) = done.next().await {
        for (position, status) in lane {
            statuses[position] = status;
        }
    }
    statuses
}

async fn run_one<'a, R, F, Fut, T, E, H>(
    records: &Records<'a, R>,
    position: usize,
    f: &F,
    on_failure: &H,
) -> Status
where
    F: Fn(&'a R) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    H: OnFailure<R, E>,
{
    let (index, id, record) = records.items[position];
    // Calling `f` inside the block catches a panic before its first await too.
    let result = AssertUnwindSafe(async { f(record).await })
        .catch_unwind()
        .await;
    let error = match &result {
        Ok(Ok(_)) => return Status::Succeeded,
        Ok(Err(error)) => Reason::Error(error),
        Err(_panic) => Reason::Panicked,
    };
    let failure = Failure {
        source: records.source,
        id,
        index,
        record,
        reason: error,
    };
    match on_failure.on_failure(failure) {
        Verdict::Retry => Status::Failed,
        Verdict::Handled => Status::Handled,
    }
}

/// Logs what became of a batch, in counts (debug level).
pub(crate) fn summarize(source: Source, statuses: &[Status]) {
    let count = |s| statuses.iter().filter(|&&x| x == s).count();
    tracing::debug!(
        source = source.as_str(),
        records = statuses.len(),
        succeeded = count(Status::Succeeded),
        handled = count(Status::Handled),
        failed = count(Status::Failed),
        skipped = count(Status::Skipped),
        "batch done"
    );
}

#[cfg(test)]
mod tests {
    use super::Plan;

    #[test]
    fn groups_keep_the_order_of_their_records_and_keyless_records_stand_alone() {
        let plan = Plan::grouped([Some("a"), Some("b"), None, Some("a"), Some("b")], false);
        assert_eq!(plan.lanes, [vec![0, 3], vec![1, 4], vec![2]]);
    }
}
