//! Records as DynamoDB items, in Powertools' layout and types.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use idem_core::store::{ClaimRequest, Record, Status, StoredField, StoredFields};
use idem_core::StoreError;

use crate::config::Settings;
use crate::error::corrupt;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// DynamoDB's item size limit, attribute names included.
const ITEM_LIMIT: usize = 400 * 1024;
/// Longest partition key value DynamoDB accepts.
const MAX_PARTITION_KEY: usize = 2048;
/// Longest sort key value DynamoDB accepts.
const MAX_SORT_KEY: usize = 1024;
/// A number attribute takes at most 21 bytes.
const MAX_NUMBER: usize = 21;
/// Room for the fingerprint's value: ours are 64 hex digits, Powertools'
/// md5 32; more is allowed for foreign writers.
const MAX_VALIDATION: usize = 256;
/// Slack for per-item overhead DynamoDB does not document precisely.
const SLACK: usize = 1024;
/// A lease token as we write it: 32 hex digits.
const TOKEN_LEN: usize = 32;

/// The primary key of `key`'s item.
pub(crate) fn primary_key(settings: &Settings, key: &str) -> Item {
    let attrs = &settings.attrs;
    let mut item = HashMap::with_capacity(2);
    match &attrs.sort_key {
        None => {
            item.insert(attrs.key.clone(), s(key));
        }
        Some(sk) => {
            item.insert(attrs.key.clone(), s(&sk.partition_value));
            item.insert(sk.attr.clone(), s(key));
        }
    }
    item
}

/// The in-progress item a claim writes.
pub(crate) fn claim_item(settings: &Settings, request: &ClaimRequest<'_>, token: &str) -> Item {
    let attrs = &settings.attrs;
    let mut item = primary_key(settings, request.key);
    item.insert(attrs.status.clone(), s(Status::InProgress.as_str()));
    item.insert(attrs.expiry.clone(), n(request.expires_at_s));
    item.insert(attrs.in_progress_expiry.clone(), n(request.lease_until_ms));
    item.insert(attrs.lease_token.clone(), s(token));
    if let Some(fp) = request.fingerprint {
        item.insert(attrs.validation.clone(), s(fp.as_str()));
    }
    item
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The largest `data` value a completed item can hold whatever its key:
/// 400 KB less every other attribute of a completed item at its largest (the
/// key at DynamoDB's key-length limit), the lease attributes included: a
/// completed item keeps them.
pub(crate) fn max_data_bytes(settings: &Settings) -> usize {
    let attrs = &settings.attrs;
    let key = match &attrs.sort_key {
        None => attrs.key.len() + MAX_PARTITION_KEY,
        Some(sk) => attrs.key.len() + sk.partition_value.len() + sk.attr.len() + MAX_SORT_KEY,
    };
    let others = attrs.status.len()
        + Status::Completed.as_str().len()
        + attrs.expiry.len()
        + MAX_NUMBER
        + attrs.in_progress_expiry.len()
        + MAX_NUMBER
        + attrs.lease_token.len()
        + TOKEN_LEN
        + attrs.validation.len()
        + MAX_VALIDATION
        + attrs.data.len();
    ITEM_LIMIT.saturating_sub(key + others + SLACK)
}

/// Reads a record from an item; anything unexpected is
/// [`StoreError::Corrupt`] naming the key and the attribute, never a guess.
pub(crate) fn parse(settings: &Settings, key: &str, item: &Item) -> Result<Record, StoreError> {
    let attrs = &settings.attrs;
    let bad = |what: String| corrupt(&settings.table, key, what);
    let key_attr = attrs.sort_key.as_ref().map_or(&attrs.key, |sk| &sk.attr);
    let stored_key = string(item, key_attr)
        .map_err(&bad)?
        .ok_or_else(|| bad(format!("attribute `{key_attr}` is missing")))?;
    let text = |name: &str| string(item, name).map_err(&bad);
    let number_text = |name: &str| number_text(item, name).map_err(&bad);
    StoredFields {
        status: text(&attrs.status)?,
        expiration: number_text(&attrs.expiry)?,
        in_progress_expiration: number_text(&attrs.in_progress_expiry)?,
        lease_token: text(&attrs.lease_token)?,
        validation: text(&attrs.validation)?,
        data: text(&attrs.data)?.map(str::to_owned),
    }
    .into_record(stored_key.to_owned(), |f| {
        let name = match f {
            StoredField::Status => &attrs.status,
            StoredField::Expiration => &attrs.expiry,
            StoredField::InProgressExpiration => &attrs.in_progress_expiry,
            _ => f.powertools_name(),
        };
        format!("attribute `{name}`")
    })
    .map_err(bad)
}

fn string<'i>(item: &'i Item, name: &str) -> Result<Option<&'i str>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(other) => Err(format!(
            "attribute `{name}` should be a string (S), found {}",
            type_name(other)
        )),
    }
}

/// A number attribute's digits, for [`StoredFields`] to read.
fn number_text<'i>(item: &'i Item, name: &str) -> Result<Option<&'i str>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => Ok(Some(v)),
        Some(other) => Err(format!(
            "attribute `{name}` should be a number (N), found {}",
            type_name(other)
        )),
    }
}

fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::B(_) => "binary (B)",
        AttributeValue::Bool(_) => "boolean (BOOL)",
        AttributeValue::Bs(_) => "binary set (BS)",
        AttributeValue::L(_) => "list (L)",
        AttributeValue::M(_) => "map (M)",
        AttributeValue::N(_) => "number (N)",
        AttributeValue::Ns(_) => "number set (NS)",
        AttributeValue::Null(_) => "null (NULL)",
        AttributeValue::S(_) => "string (S)",
        AttributeValue::Ss(_) => "string set (SS)",
        _ => "an unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Attributes;
    use idem_core::Fingerprint;

    fn settings() -> Settings {
        Settings {
            table: "t".into(),
            attrs: Attributes::default(),
        }
    }

    fn powertools_completed() -> Item {
        HashMap::from([
            ("id".to_owned(), s("fn#abc")),
            ("status".to_owned(), s("COMPLETED")),
            ("expiration".to_owned(), n(1_700_003_600)),
            ("data".to_owned(), s(r#"{"ok":true}"#)),
            ("validation".to_owned(), s("00ff")),
        ])
    }

    #[test]
    fn reads_a_completed_record() {
        let r = parse(&settings(), "fn#abc", &powertools_completed()).expect("parse");
        assert_eq!(r.key, "fn#abc");
        assert_eq!(r.status, Status::Completed);
        assert_eq!(r.expires_at_s, 1_700_003_600);
        assert_eq!(r.lease, None);
        assert_eq!(r.data.as_deref(), Some(r#"{"ok":true}"#));
        assert_eq!(
            r.fingerprint.as_ref().map(Fingerprint::as_str),
            Some("00ff")
        );
    }

    #[test]
    fn an_in_progress_record_without_token_has_no_token() {
        let mut item = powertools_completed();
        item.insert("status".into(), s("INPROGRESS"));
        item.insert("in_progress_expiration".into(), n(1_700_000_123_456));
        let r = parse(&settings(), "fn#abc", &item).expect("parse");
        let lease = r.lease.expect("lease");
        assert_eq!(lease.until_ms, 1_700_000_123_456);
        assert_eq!(lease.token, None);
    }

    #[test]
    fn corrupt_items_name_key_and_attribute() {
        let cases: [(&str, Option<AttributeValue>, &str); 5] = [
            ("status", Some(s("EXPIRED")), "unknown value `EXPIRED`"),
            ("status", None, "attribute `status` is missing"),
            (
                "expiration",
                Some(s("1700")),
                "should be a number (N), found string (S)",
            ),
            (
                "expiration",
                Some(AttributeValue::N("-1".into())),
                "not a non-negative integer",
            ),
            (
                "data",
                Some(AttributeValue::Bool(true)),
                "should be a string (S), found boolean",
            ),
        ];
        for (attr, value, expected) in cases {
            let mut item = powertools_completed();
            match value {
                Some(v) => item.insert(attr.into(), v),
                None => item.remove(attr),
            };
            let e = parse(&settings(), "fn#abc", &item).expect_err(attr);
            let text = e.to_string();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{text}");
            assert!(text.contains("item `fn#abc` in table `t`"), "{text}");
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn data_limit_leaves_room_for_the_longest_key() {
        let limit = max_data_bytes(&settings());
        assert!(limit > 390 * 1024 && limit < 400 * 1024, "{limit}");
    }
}
