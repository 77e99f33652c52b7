//! Building a [`DynamoStore`] from its builder: a module of its own, so that
//! `config` (the settings and their checks) and `store` do not depend on
//! each other.

use std::sync::Arc;

use aws_sdk_dynamodb::Client;

use crate::config::DynamoStoreBuilder;
use crate::error::ConfigError;
use crate::store::DynamoStore;

impl DynamoStoreBuilder {
    /// Builds the store on `client`. No network call is made.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the table name is empty, an attribute name is
    /// empty, two settings name the same attribute, or `static_pk_value` was
    /// given without `sort_key_attr`.
    ///
    /// ```
    /// # let client = aws_sdk_dynamodb::Client::from_conf(
    /// #     aws_sdk_dynamodb::Config::builder()
    /// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
    /// #         .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
    /// #         .build(),
    /// # );
    /// use idem_dynamo::{ConfigError, DynamoStore};
    ///
    /// let clash = DynamoStore::builder("idempotency").data_attr("status").build(client.clone());
    /// assert!(matches!(clash, Err(ConfigError::DuplicateName { .. })));
    /// let store = DynamoStore::builder("idempotency").build(client)?;
    /// assert_eq!(store.table(), "idempotency");
    /// # Ok::<(), idem_dynamo::ConfigError>(())
    /// ```
    pub fn build(self, client: Client) -> Result<DynamoStore, ConfigError> {
        Ok(DynamoStore::from_parts(client, Arc::new(self.settings()?)))
    }

    /// Builds the store on a client configured by `aws-config`'s default
    /// chain (environment, profile, container and instance credentials;
    /// `AWS_ENDPOINT_URL_DYNAMODB` is honoured). Credentials are fetched
    /// lazily on the first request; the region is read from the environment
    /// or profile (on Lambda, `AWS_REGION`), so on Lambda this makes no
    /// network call.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), idem_dynamo::ConfigError> {
    /// let store = idem_dynamo::DynamoStore::builder("idempotency")
    ///     .expiry_attr("ttl")
    ///     .build_from_env()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn build_from_env(self) -> Result<DynamoStore, ConfigError> {
        let settings = self.settings()?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(DynamoStore::from_parts(
            Client::new(&config),
            Arc::new(settings),
        ))
    }
}
