//! The idem-core store conformance suite against DynamoStore on DynamoDB Local.

mod dynamo_support;

use std::sync::Arc;

use idem_core::testing::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conforms_with_powertools_layout() {
    let Some(db) = dynamo_support::local("conformance") else {
        return;
    };
    let report = conformance(Arc::new(db.store().await)).await;
    assert!(report.checks > 40, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conforms_with_sort_key_layout() {
    let Some(db) = dynamo_support::local("conformance-sk") else {
        return;
    };
    let store = db
        .store_with(|b| b.key_attr("pk").sort_key_attr("sk"))
        .await;
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conforms_with_renamed_attributes() {
    let Some(db) = dynamo_support::local("conformance-names") else {
        return;
    };
    let store = db
        .store_with(|b| {
            b.key_attr("key")
                .expiry_attr("ttl")
                .in_progress_expiry_attr("lease_until")
                .status_attr("state")
                .data_attr("result")
                .validation_key_attr("fingerprint")
                .lease_token_attr("owner")
        })
        .await;
    let report = conformance(Arc::new(store)).await;
    assert!(report.checks > 40, "{report:?}");
}
