//! Configuration: table, attribute names, key layout, and the builder.

use crate::error::ConfigError;

/// Attribute names of the table. The defaults are Powertools' (`id`,
/// `expiration`, `in_progress_expiration`, `status`, `data`, `validation`),
/// so a table created for Powertools works unchanged; `lease_token` is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    pub(crate) key: String,
    pub(crate) sort_key: Option<SortKey>,
    pub(crate) expiry: String,
    pub(crate) in_progress_expiry: String,
    pub(crate) status: String,
    pub(crate) data: String,
    pub(crate) validation: String,
    pub(crate) lease_token: String,
}

/// The sort-key layout: every record lives under one static partition value,
/// and the storage key is the sort key (Powertools' `sort_key_attr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortKey {
    pub(crate) attr: String,
    pub(crate) partition_value: String,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            key: "id".into(),
            sort_key: None,
            expiry: "expiration".into(),
            in_progress_expiry: "in_progress_expiration".into(),
            status: "status".into(),
            data: "data".into(),
            validation: "validation".into(),
            lease_token: "lease_token".into(),
        }
    }
}

impl Attributes {
    fn all(&self) -> Vec<(&'static str, &str)> {
        let mut all = vec![
            ("key_attr", self.key.as_str()),
            ("expiry_attr", &self.expiry),
            ("in_progress_expiry_attr", &self.in_progress_expiry),
            ("status_attr", &self.status),
            ("data_attr", &self.data),
            ("validation_key_attr", &self.validation),
            ("lease_token_attr", &self.lease_token),
        ];
        if let Some(sk) = &self.sort_key {
            all.push(("sort_key_attr", &sk.attr));
        }
        all
    }

    /// Every name must be non-empty and distinct: two settings naming the
    /// same attribute would make one overwrite the other in every item.
    fn validate(&self) -> Result<(), ConfigError> {
        let all = self.all();
        for (i, (setting, name)) in all.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::EmptyName { setting });
            }
            if let Some((other, _)) = all[..i].iter().find(|(_, n)| n == name) {
                return Err(ConfigError::DuplicateName {
                    name: (*name).to_owned(),
                    first: other,
                    second: setting,
                });
            }
        }
        if let Some(sk) = &self.sort_key {
            if sk.partition_value.is_empty() {
                return Err(ConfigError::EmptyName {
                    setting: "static_pk_value",
                });
            }
        }
        Ok(())
    }
}

/// Everything a [`DynamoStore`](crate::DynamoStore) needs besides the client; shared by clones.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) table: String,
    pub(crate) attrs: Attributes,
}

/// Builds a [`DynamoStore`](crate::DynamoStore) with non-default attribute names or the sort-key
/// layout. Building makes no network call.
///
/// ```
/// use idem_dynamo::DynamoStore;
///
/// # fn client() -> aws_sdk_dynamodb::Client { unimplemented!() }
/// # fn main() -> Result<(), idem_dynamo::ConfigError> {
/// # if false {
/// // A Powertools table that uses the sort-key layout.
/// let store = DynamoStore::builder("idempotency")
///     .sort_key_attr("sk")
///     .static_pk_value("idempotency#orders")
///     .build(client())?;
/// # let _ = store;
/// # }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build(…)` is called"]
pub struct DynamoStoreBuilder {
    table: String,
    attrs: Attributes,
    sort_key_attr: Option<String>,
    static_pk_value: Option<String>,
}

impl DynamoStoreBuilder {
    pub(crate) fn new(table: impl Into<String>) -> Self {
        DynamoStoreBuilder {
            table: table.into(),
            attrs: Attributes::default(),
            sort_key_attr: None,
            static_pk_value: None,
        }
    }

    /// The partition key attribute (default `id`, type S).
    pub fn key_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.key = name.into();
        self
    }

    /// The record's expiry, unix seconds (default `expiration`, type N). Make
    /// it the table's TTL attribute so DynamoDB deletes old records.
    pub fn expiry_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.expiry = name.into();
        self
    }

    /// The end of an in-progress record's lease, unix milliseconds (default
    /// `in_progress_expiration`, type N).
    pub fn in_progress_expiry_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.in_progress_expiry = name.into();
        self
    }

    /// The record's status, `INPROGRESS` or `COMPLETED` (default `status`, type S).
    pub fn status_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.status = name.into();
        self
    }

    /// The saved result as JSON (default `data`, type S).
    pub fn data_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.data = name.into();
        self
    }

    /// The payload fingerprint of `validate` (default `validation`, type S).
    pub fn validation_key_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.validation = name.into();
        self
    }

    /// The lease token that fences late writes of a taken-over run (default
    /// `lease_token`, type S). Powertools does not write it.
    pub fn lease_token_attr(mut self, name: impl Into<String>) -> Self {
        self.attrs.lease_token = name.into();
        self
    }

    /// Uses the sort-key layout: the partition key holds a static value (see
    /// [`static_pk_value`](Self::static_pk_value)) and this attribute (type S)
    /// holds the storage key, as Powertools' `sort_key_attr` option does.
    pub fn sort_key_attr(mut self, name: impl Into<String>) -> Self {
        self.sort_key_attr = Some(name.into());
        self
    }

    /// The partition value of the sort-key layout (default
    /// `idempotency#<table>`). Powertools uses `idempotency#<function name>`;
    /// set that to share records' partition with it.
    pub fn static_pk_value(mut self, value: impl Into<String>) -> Self {
        self.static_pk_value = Some(value.into());
        self
    }

    pub(crate) fn settings(self) -> Result<Settings, ConfigError> {
        let DynamoStoreBuilder {
            table,
            mut attrs,
            sort_key_attr,
            static_pk_value,
        } = self;
        if table.is_empty() {
            return Err(ConfigError::EmptyName { setting: "table" });
        }
        attrs.sort_key = match (sort_key_attr, static_pk_value) {
            (Some(attr), value) => Some(SortKey {
                attr,
                partition_value: value.unwrap_or_else(|| format!("idempotency#{table}")),
            }),
            (None, Some(_)) => return Err(ConfigError::StaticPkWithoutSortKey),
            (None, None) => None,
        };
        attrs.validate()?;
        Ok(Settings { table, attrs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_powertools_names() {
        let s = DynamoStoreBuilder::new("t").settings().expect("valid");
        assert_eq!(s.attrs, Attributes::default());
        assert_eq!(s.attrs.key, "id");
        assert_eq!(s.attrs.expiry, "expiration");
        assert_eq!(s.attrs.in_progress_expiry, "in_progress_expiration");
    }

    #[test]
    fn sort_key_defaults_partition_value_to_table() {
        let s = DynamoStoreBuilder::new("t")
            .sort_key_attr("sk")
            .settings()
            .expect("valid");
        let sk = s.attrs.sort_key.expect("sort key");
        assert_eq!(sk.attr, "sk");
        assert_eq!(sk.partition_value, "idempotency#t");
    }

    #[test]
    fn rejects_bad_names() {
        let e = DynamoStoreBuilder::new("t")
            .data_attr("status")
            .settings()
            .expect_err("duplicate");
        assert_eq!(
            e.to_string(),
            "`status_attr` and `data_attr` both name the attribute `status`"
        );
        let e = DynamoStoreBuilder::new("t")
            .sort_key_attr("id")
            .settings()
            .expect_err("duplicate");
        assert!(e.to_string().contains("`sort_key_attr`"), "{e}");
        let e = DynamoStoreBuilder::new("")
            .settings()
            .expect_err("empty table");
        assert_eq!(e.to_string(), "`table` must not be empty");
        let e = DynamoStoreBuilder::new("t")
            .static_pk_value("x")
            .settings()
            .expect_err("pk without sk");
        assert!(matches!(e, ConfigError::StaticPkWithoutSortKey));
    }
}
