//! Creating the table, for local development and tests.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use idem_core::StoreError;

use crate::error::{backend, failed};
use crate::store::DynamoStore;

/// How long to wait for a new table to become active. AWS takes seconds,
/// DynamoDB Local none.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

impl DynamoStore {
    /// Creates the table if it does not exist: on-demand capacity, the key
    /// schema of the configured layout, TTL on the expiry attribute; then
    /// waits until it is active. For local development and tests — in
    /// production, declare the table in your infrastructure code (the
    /// crate docs have a CloudFormation snippet) and grant the function no
    /// `CreateTable` permission.
    ///
    /// An existing table is checked, not changed: if its key schema does not
    /// match the configured layout the error says so.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_core::StoreError> {
    /// let store = idem_dynamo::DynamoStore::from_env("idempotency-dev").await;
    /// store.create_table_if_missing().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] naming the failed call and the table.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        match self.describe_status().await? {
            Some(_) => self.check_key_schema().await,
            None => self.create_table().await,
        }
    }

    /// The table's status, or `None` if it does not exist.
    async fn describe_status(&self) -> Result<Option<TableStatus>, StoreError> {
        match self
            .client()
            .describe_table()
            .table_name(self.table())
            .send()
            .await
        {
            Ok(out) => Ok(out.table.and_then(|t| t.table_status)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(backend("DescribeTable", self.table(), err)),
        }
    }

    fn key_schema(&self) -> Vec<(String, KeyType)> {
        let attrs = &self.settings().attrs;
        let mut schema = vec![(attrs.key.clone(), KeyType::Hash)];
        if let Some(sk) = &attrs.sort_key {
            schema.push((sk.attr.clone(), KeyType::Range));
        }
        schema
    }

    async fn check_key_schema(&self) -> Result<(), StoreError> {
        let out = self
            .client()
            .describe_table()
            .table_name(self.table())
            .send()
            .await
            .map_err(|e| backend("DescribeTable", self.table(), e))?;
        let mut actual: Vec<(String, KeyType)> = out
            .table
            .map(|t| t.key_schema.unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .map(|k| (k.attribute_name, k.key_type))
            .collect();
        actual.sort_by_key(|(_, kind)| *kind != KeyType::Hash);
        let wanted = self.key_schema();
        if actual == wanted {
            return Ok(());
        }
        Err(failed(
            "DescribeTable",
            self.table(),
            format!(
                "the table exists with key schema {} but the store is configured for {}",
                describe(&actual),
                describe(&wanted)
            ),
        ))
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        let mut create = self
            .client()
            .create_table()
            .table_name(self.table())
            .billing_mode(BillingMode::PayPerRequest);
        for (name, kind) in self.key_schema() {
            create = create
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(&name)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| backend_build("CreateTable", self.table(), e))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(name)
                        .key_type(kind)
                        .build()
                        .map_err(|e| backend_build("CreateTable", self.table(), e))?,
                );
        }
        match create.send().await {
            Ok(_) => {}
            // Someone else is creating it (a parallel test): wait for theirs.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return self.wait_active().await;
            }
            Err(err) => return Err(backend("CreateTable", self.table(), err)),
        }
        self.wait_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(&self.settings().attrs.expiry)
            .build()
            .map_err(|e| backend_build("UpdateTimeToLive", self.table(), e))?;
        self.client()
            .update_time_to_live()
            .table_name(self.table())
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive", self.table(), e))?;
        Ok(())
    }

    async fn wait_active(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            if self.describe_status().await? == Some(TableStatus::Active) {
                return Ok(());
            }
            if started.elapsed() > ACTIVE_TIMEOUT {
                return Err(failed(
                    "DescribeTable",
                    self.table(),
                    format!("the table did not become active within {ACTIVE_TIMEOUT:?}"),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

fn backend_build(
    operation: &str,
    table: &str,
    err: aws_sdk_dynamodb::error::BuildError,
) -> StoreError {
    StoreError::backend(format!("{operation} on table `{table}`"), err)
}

fn describe(schema: &[(String, KeyType)]) -> String {
    if schema.is_empty() {
        return "(none)".to_owned();
    }
    schema
        .iter()
        .map(|(name, kind)| format!("`{name}` ({})", kind.as_str()))
        .collect::<Vec<_>>()
        .join(" + ")
}
