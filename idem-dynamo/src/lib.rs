//! # idem-dynamo
//!
//! [`DynamoStore`]: idem's [`Store`](idem_core::Store) on a DynamoDB table, so
//! every instance of a function (every Lambda sandbox) shares one record per
//! key.
//!
//! ```no_run
//! use idem_core::{Cached, Idempotent};
//! use idem_dynamo::DynamoStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! // Once per process (outside the handler): no network call here.
//! let store = Cached::new(DynamoStore::from_env("idempotency").await, 10_000);
//!
//! // Per event:
//! let total: u64 = Idempotent::new("shop::checkout")
//!     .store(&store)
//!     .key("cart_id", "cart-7")
//!     .run(|| async { Ok::<_, anyhow::Error>(4200) })
//!     .await?;
//! # let _ = total;
//! # Ok(())
//! # }
//! ```
//!
//! ## Table layout
//!
//! The defaults are those of Powertools for AWS Lambda (Python, TypeScript,
//! Java, .NET), so a table created for Powertools works unchanged:
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `id` | S | partition key: the storage key `namespace#digest` |
//! | `expiration` | N | expiry, unix **seconds**; the table's TTL attribute |
//! | `in_progress_expiration` | N | end of the lease, unix **milliseconds** |
//! | `status` | S | `INPROGRESS` or `COMPLETED` |
//! | `data` | S | the result as JSON (absent if it was too large) |
//! | `validation` | S | the payload fingerprint, if `validate` is used |
//! | `lease_token` | S | ours: fences late writes of a run that was taken over |
//!
//! Every name can be changed with [`DynamoStore::builder`]. The sort-key
//! layout ([`DynamoStoreBuilder::sort_key_attr`]) keeps all records under one
//! static partition value, with the storage key as the sort key.
//!
//! A record past `expiration` counts as absent even before DynamoDB's TTL
//! deletes it (which can take hours). Records written by Powertools are read
//! correctly; Powertools' own keys (`function#md5`) never collide with ours,
//! so the two can share a table.
//!
//! ## Round trips
//!
//! | call | DynamoDB requests |
//! |---|---|
//! | first call of a key | 2: `PutItem` (claim), `UpdateItem` (save) |
//! | duplicate | 1: the failing `PutItem` returns the record (`ALL_OLD`) |
//! | body returns `Err` | 2: `PutItem`, `DeleteItem` (release) |
//! | duplicate through [`Cached`](idem_core::Cached) | 0 |
//!
//! Long bodies add one `UpdateItem` per lease renewal (every third of `lease`).
//!
//! ## Sizes
//!
//! A DynamoDB item holds at most 400 KB, attribute names included.
//! [`max_data_bytes`](idem_core::Store::max_data_bytes) leaves room for the
//! other attributes with the longest key DynamoDB accepts (about 396 KB of
//! JSON); a larger result is saved as completed without data, so the body
//! never runs again and replays get
//! [`Error::ReplayUnavailable`](idem_core::Error::ReplayUnavailable).
//!
//! ## Errors
//!
//! SDK errors become [`StoreError::Backend`](idem_core::StoreError::Backend)
//! whose Display names the operation and table (``PutItem on table
//! `idempotency` failed``) and whose source, an [`SdkFailure`], renders the
//! SDK's whole error context once.
//! A record that cannot be read (unknown status, missing or mistyped
//! attribute) is [`StoreError::Corrupt`](idem_core::StoreError::Corrupt)
//! naming the table, key and attribute: the call fails rather than guess.
//!
//! ## Permissions
//!
//! `dynamodb:PutItem`, `GetItem`, `UpdateItem` and `DeleteItem` on the table;
//! [`DynamoStore::create_table_if_missing`] also needs `DescribeTable`,
//! `CreateTable` and `UpdateTimeToLive`, which a production function should not
//! have.

mod build;
mod config;
mod error;
mod item;
mod store;
mod table;

pub use config::DynamoStoreBuilder;
pub use error::{ConfigError, SdkFailure};
pub use store::DynamoStore;
