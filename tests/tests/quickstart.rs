//! The quickstart's simulation, run as a test: compiled from the example's
//! own source, so the README's first command cannot silently rot.

#[allow(dead_code)] // its `main` is the binary's, not the test's
#[path = "../../examples/quickstart/src/main.rs"]
mod quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_is_charged_exactly_once() {
    let summary = quickstart::simulate().await;
    assert!(summary.holds(), "{summary:?}");
    assert_eq!(
        summary,
        quickstart::Summary {
            deliveries: 21,
            distinct_orders: 10,
            charges_executed: 10,
            replays: 7,
            in_progress: 3,
            failures: 1,
            charged_twice: vec![],
        }
    );
}
