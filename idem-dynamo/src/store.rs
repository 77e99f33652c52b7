//! `DynamoStore` and its `Store` implementation: one DynamoDB call per step.

use std::sync::Arc;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;
use idem_core::store::{Claim, ClaimRequest, Completion, Lease, Record, Status, StoreFuture};
use idem_core::{Store, StoreError};

use crate::config::{Attributes, DynamoStoreBuilder, Settings};
use crate::error::{backend, failed, fenced, is_item_too_large};
use crate::item::{self, n, s, Item};

/// How often a claim writes again when the record it lost to vanished (or
/// lapsed) before it could be read. Each retry means another writer moved
/// the key in between, so a few suffice.
const CLAIM_ATTEMPTS: usize = 3;

/// The condition under which a claim may (over)write the item: absent,
/// expired, in progress with a lapsed (or no) lease — or in progress under
/// this claim's own token, which is what the SDK's retry of a `PutItem` that
/// was applied but unanswered finds. Comparisons are `<=` to agree with
/// `Record::is_expired` / `is_claimable` exactly.
const CLAIMABLE: &str = "attribute_not_exists(#id) OR #exp <= :now_s \
     OR (#status = :inprogress AND (attribute_not_exists(#ipexp) OR #ipexp <= :now_ms \
     OR #tok = :tok))";

/// A fenced write on an in-progress record of ours.
const HELD: &str = "#tok = :tok AND #status = :inprogress";

/// A release: ours, or already gone (a retried `DeleteItem` whose first try
/// was applied).
const RELEASABLE: &str = "attribute_not_exists(#id) OR (#tok = :tok AND #status = :inprogress)";

/// A [`Store`] on a DynamoDB table, in the layout of Powertools for AWS
/// Lambda, so an existing Powertools table works unchanged.
///
/// | step | DynamoDB call |
/// |---|---|
/// | `claim` | `PutItem` conditioned on the key being free, `ReturnValuesOnConditionCheckFailure=ALL_OLD` (a consistent `GetItem` only if no item comes back) |
/// | `complete` | `UpdateItem` conditioned on the lease token (kept on the completed item, so a retry succeeds) |
/// | `release` | `DeleteItem` conditioned on the lease token, or on the item being gone already |
/// | `extend` | `UpdateItem` of the lease end, conditioned on the lease token |
/// | `get` / `delete` | consistent `GetItem` / `DeleteItem` |
///
/// So a first call costs 2 round trips, a duplicate 1, a failed body 2, and
/// a duplicate answered by [`idem_core::Cached`] none.
///
/// Construction makes no network call: build the store once, outside the
/// handler, and clone it freely (clones share the client).
///
/// ```no_run
/// use idem_core::{Cached, Idempotent};
/// use idem_dynamo::DynamoStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let store = Cached::new(DynamoStore::from_env("idempotency").await, 10_000);
/// let receipt: String = Idempotent::new("billing::charge")
///     .store(&store)
///     .key("order_id", "ord-1")
///     .run(|| async { Ok::<_, anyhow::Error>("r-1".to_owned()) })
///     .await?;
/// # let _ = receipt;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    settings: Arc<Settings>,
}

impl DynamoStore {
    /// A store on `table` with Powertools' attribute names.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let store = idem_dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "idempotency");
    /// # let _ = store;
    /// # }
    /// ```
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let settings = Settings {
            table: table.into(),
            attrs: Attributes::default(),
        };
        DynamoStore::from_parts(client, Arc::new(settings))
    }

    /// A store on `table` with Powertools' attribute names, on a client from
    /// `aws-config`'s default chain. See
    /// [`DynamoStoreBuilder::build_from_env`] for what that reads.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // In a Lambda's init: AWS_REGION and the role's credentials come from the environment.
    /// let store = idem_dynamo::DynamoStore::from_env("idempotency").await;
    /// assert_eq!(store.table(), "idempotency");
    /// # }
    /// ```
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoStore::new(Client::new(&config), table)
    }

    /// A builder for other attribute names or the sort-key layout.
    ///
    /// ```
    /// # fn client() -> aws_sdk_dynamodb::Client { unimplemented!() }
    /// # fn main() -> Result<(), idem_dynamo::ConfigError> {
    /// # if false {
    /// let store = idem_dynamo::DynamoStore::builder("idempotency")
    ///     .status_attr("state")
    ///     .lease_token_attr("owner")
    ///     .build(client())?;
    /// # let _ = store;
    /// # }
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(table: impl Into<String>) -> DynamoStoreBuilder {
        DynamoStoreBuilder::new(table)
    }

    pub(crate) fn from_parts(client: Client, settings: Arc<Settings>) -> Self {
        DynamoStore { client, settings }
    }

    /// The table's name.
    ///
    /// ```
    /// # let client = aws_sdk_dynamodb::Client::from_conf(
    /// #     aws_sdk_dynamodb::Config::builder()
    /// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
    /// #         .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
    /// #         .build(),
    /// # );
    /// let store = idem_dynamo::DynamoStore::new(client, "idempotency");
    /// assert_eq!(store.table(), "idempotency");
    /// ```
    pub fn table(&self) -> &str {
        &self.settings.table
    }

    /// The SDK client, for calls of your own on the same connection pool.
    ///
    /// ```
    /// # let client = aws_sdk_dynamodb::Client::from_conf(
    /// #     aws_sdk_dynamodb::Config::builder()
    /// #         .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
    /// #         .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
    /// #         .build(),
    /// # );
    /// let store = idem_dynamo::DynamoStore::new(client, "idempotency");
    /// let region = store.client().config().region().map(|r| r.to_string());
    /// assert_eq!(region.as_deref(), Some("eu-west-1"));
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn claim_inner(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let table = self.table();
        let attrs = &self.settings.attrs;
        let lease = Lease::new(request.token, request.lease_until_ms);
        let token = request.token.to_string();
        for _ in 0..CLAIM_ATTEMPTS {
            let result = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(item::claim_item(&self.settings, &request, &token)))
                .condition_expression(CLAIMABLE)
                .expression_attribute_names("#id", &attrs.key)
                .expression_attribute_names("#exp", &attrs.expiry)
                .expression_attribute_names("#status", &attrs.status)
                .expression_attribute_names("#ipexp", &attrs.in_progress_expiry)
                .expression_attribute_names("#tok", &attrs.lease_token)
                .expression_attribute_values(":tok", s(&token))
                .expression_attribute_values(":now_s", n(request.now_ms / 1000))
                .expression_attribute_values(":now_ms", n(request.now_ms))
                .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Claim::Acquired(lease)),
                Err(err) => err,
            };
            let returned = match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned()
                }
                _ => return Err(backend("PutItem", table, err)),
            };
            if let Some(old) = returned {
                // The condition was judged on exactly this item: it holds the key.
                return item::parse(&self.settings, request.key, &old)
                    .map(|record| Claim::Existing(Arc::new(record)));
            }
            // Older emulators return no item: read it, and write again if it
            // went away (or lapsed) in between.
            tracing::debug!(table, "the failed claim returned no item; reading it");
            if let Some(old) = self.get_item(request.key).await? {
                let record = item::parse(&self.settings, request.key, &old)?;
                if !record.is_claimable(request.now_ms) {
                    return Ok(Claim::Existing(Arc::new(record)));
                }
            }
        }
        Err(failed(
            "PutItem",
            table,
            format!("the key changed hands during each of {CLAIM_ATTEMPTS} claim attempts"),
        ))
    }

    async fn get_item(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(item::primary_key(&self.settings, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", self.table(), e))?;
        Ok(output.item)
    }

    async fn complete_inner(&self, completion: Completion<'_>) -> Result<(), StoreError> {
        let attrs = &self.settings.attrs;
        let mut set = String::from("SET #status = :completed, #exp = :exp");
        // The lease attributes stay: a retried complete (its first try
        // applied, the reply lost) still finds its token and succeeds.
        let mut remove = String::new();
        let mut update = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item::primary_key(&self.settings, completion.key)))
            .condition_expression("#tok = :tok")
            .expression_attribute_names("#status", &attrs.status)
            .expression_attribute_names("#exp", &attrs.expiry)
            .expression_attribute_names("#tok", &attrs.lease_token)
            .expression_attribute_names("#data", &attrs.data)
            .expression_attribute_values(":completed", s(Status::Completed.as_str()))
            .expression_attribute_values(":exp", n(completion.expires_at_s))
            .expression_attribute_values(":tok", s(&completion.lease.token_text()));
        match completion.data {
            Some(data) => {
                set.push_str(", #data = :data");
                update = update.expression_attribute_values(":data", s(data));
            }
            // Data from an earlier run of the key must not be replayed.
            None => remove.push_str(" REMOVE #data"),
        }
        if let Some(fp) = completion.fingerprint {
            set.push_str(", #val = :val");
            update = update
                .expression_attribute_names("#val", &attrs.validation)
                .expression_attribute_values(":val", s(fp.as_str()));
        }
        set.push_str(&remove);
        let result = update.update_expression(set).send().await;
        // Our limit is computed for the longest key, so this is rare; the
        // engine then saves the record without data.
        if let Err(err) = &result {
            if err.as_service_error().is_some_and(is_item_too_large) {
                return Err(StoreError::TooLarge {
                    size: completion.data.map_or(0, str::len),
                    limit: item::max_data_bytes(&self.settings),
                });
            }
        }
        fenced("UpdateItem", self.table(), result)
    }

    async fn release_inner(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item::primary_key(&self.settings, key)))
            .condition_expression(RELEASABLE)
            .expression_attribute_names("#id", &self.settings.attrs.key)
            .expression_attribute_names("#tok", &self.settings.attrs.lease_token)
            .expression_attribute_names("#status", &self.settings.attrs.status)
            .expression_attribute_values(":tok", s(&lease.token_text()))
            .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()))
            .send()
            .await;
        fenced("DeleteItem", self.table(), result)
    }

    async fn extend_inner(
        &self,
        key: &str,
        lease: &Lease,
        until_ms: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(item::primary_key(&self.settings, key)))
            .update_expression("SET #ipexp = :until")
            .condition_expression(HELD)
            .expression_attribute_names("#ipexp", &self.settings.attrs.in_progress_expiry)
            .expression_attribute_names("#tok", &self.settings.attrs.lease_token)
            .expression_attribute_names("#status", &self.settings.attrs.status)
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":tok", s(&lease.token_text()))
            .expression_attribute_values(":inprogress", s(Status::InProgress.as_str()))
            .send()
            .await;
        fenced("UpdateItem", self.table(), result)
    }

    async fn get_inner(&self, key: &str, now_ms: u64) -> Result<Option<Record>, StoreError> {
        let Some(found) = self.get_item(key).await? else {
            return Ok(None);
        };
        // TTL deletes lazily, hours late: an expired item counts as absent.
        let record = item::parse(&self.settings, key, &found)?;
        Ok((!record.is_expired(now_ms)).then_some(record))
    }

    async fn delete_inner(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item::primary_key(&self.settings, key)))
            .send()
            .await
            .map_err(|e| backend("DeleteItem", self.table(), e))?;
        Ok(())
    }
}

impl Store for DynamoStore {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> StoreFuture<'a, Claim> {
        Box::pin(self.claim_inner(request))
    }

    fn complete<'a>(&'a self, completion: Completion<'a>) -> StoreFuture<'a, ()> {
        Box::pin(self.complete_inner(completion))
    }

    fn release<'a>(&'a self, key: &'a str, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(self.release_inner(key, lease))
    }

    fn extend<'a>(&'a self, key: &'a str, lease: &'a Lease, until_ms: u64) -> StoreFuture<'a, ()> {
        Box::pin(self.extend_inner(key, lease, until_ms))
    }

    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> StoreFuture<'a, Option<Record>> {
        Box::pin(self.get_inner(key, now_ms))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_inner(key))
    }

    /// A clone (the client is a shared handle), so the claim of a call whose
    /// future was dropped mid-body is released by a task of the runtime.
    fn detach(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::new(self.clone()))
    }

    /// 400 KB less the other attributes of a completed item with the longest
    /// key DynamoDB accepts: about 396 KB.
    fn max_data_bytes(&self) -> Option<usize> {
        Some(item::max_data_bytes(&self.settings))
    }
}
