//! CloudWatch metrics with no agent: idem's counters (`idem_calls_total` by
//! `namespace` and `outcome`, …) through the `metrics` facade into
//! CloudWatch Embedded Metric Format documents on stdout, which Lambda's log
//! delivery turns into metrics. One document per label set, flushed after
//! every invocation.

use std::future::Future;

use metrics_cloudwatch_embedded::Collector;

/// Installs the process-wide EMF recorder, metrics in CloudWatch namespace
/// `cloudwatch_namespace`.
///
/// # Errors
///
/// When a `metrics` recorder is already installed.
pub fn install(
    cloudwatch_namespace: &'static str,
) -> Result<&'static Collector, lambda_runtime::Error> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(cloudwatch_namespace)
        .init()
}

/// Runs one invocation, then writes the counters it moved to stdout as EMF.
pub async fn flushed<R>(collector: &'static Collector, invocation: impl Future<Output = R>) -> R {
    let result = invocation.await;
    if let Err(error) = collector.flush(std::io::stdout().lock()) {
        tracing::warn!(%error, "writing the invocation's metrics to stdout failed");
    }
    result
}
