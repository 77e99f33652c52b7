//! Reading a record from the text a store kept: one set of rules for every
//! store that writes Powertools' layout, so they agree on what is corrupt.

use super::{Lease, LeaseToken, Record, Status};
use crate::key::Fingerprint;

/// The fields of a record in Powertools' layout, as text, each `None` when
/// absent. A store extracts them (checking its own types), then
/// [`StoredFields::into_record`] applies the rules shared by every store.
///
/// ```
/// use idem_core::store::{StoredField, StoredFields, Status};
///
/// let fields = StoredFields {
///     status: Some("COMPLETED"),
///     expiration: Some("1700003600.0"), // Powertools' Python may write a zero fraction
///     data: Some(r#"{"ok":true}"#.to_owned()),
///     ..StoredFields::default()
/// };
/// let record = fields.into_record("fn#abc".into(), |f| format!("field `{}`", f.powertools_name())).unwrap();
/// assert_eq!((record.status, record.expires_at_s), (Status::Completed, 1_700_003_600));
///
/// let broken = StoredFields { status: Some("EXPIRED"), ..StoredFields::default() };
/// let reason = broken.into_record("k".into(), |f| format!("field `{}`", f.powertools_name())).unwrap_err();
/// assert!(reason.contains("field `status` has unknown value `EXPIRED`"), "{reason}");
/// ```
#[derive(Debug, Default, Clone)]
pub struct StoredFields<'a> {
    /// `INPROGRESS` or `COMPLETED`.
    pub status: Option<&'a str>,
    /// The record's expiry, unix seconds.
    pub expiration: Option<&'a str>,
    /// The end of the lease, unix milliseconds.
    pub in_progress_expiration: Option<&'a str>,
    /// The lease token (32 hex digits; anything else is another writer's).
    pub lease_token: Option<&'a str>,
    /// The payload fingerprint.
    pub validation: Option<&'a str>,
    /// The saved result, JSON.
    pub data: Option<String>,
}

/// One field of [`StoredFields`], for the caller to name in a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredField {
    /// [`StoredFields::status`].
    Status,
    /// [`StoredFields::expiration`].
    Expiration,
    /// [`StoredFields::in_progress_expiration`].
    InProgressExpiration,
}

impl StoredField {
    /// The field's name in Powertools' layout.
    pub fn powertools_name(self) -> &'static str {
        match self {
            StoredField::Status => "status",
            StoredField::Expiration => "expiration",
            StoredField::InProgressExpiration => "in_progress_expiration",
        }
    }
}

impl StoredFields<'_> {
    /// The record under `key`, or why the fields are not one: a reason
    /// naming the field through `name` (say "attribute `status`"), for the
    /// store's [`StoreError::Corrupt`](super::StoreError::Corrupt). Never a
    /// guess.
    pub fn into_record(
        self,
        key: String,
        name: impl Fn(StoredField) -> String,
    ) -> Result<Record, String> {
        let missing = |f| format!("{} is missing", name(f));
        let status_text = self.status.ok_or_else(|| missing(StoredField::Status))?;
        let status = Status::parse(status_text).ok_or_else(|| {
            format!(
                "{} has unknown value `{status_text}` (expected `INPROGRESS` or `COMPLETED`)",
                name(StoredField::Status)
            )
        })?;
        let number = |f, value: Option<&str>| match value {
            None => Ok(None),
            Some(v) => parse_number(v)
                .map(Some)
                .ok_or_else(|| format!("{} holds `{v}`, not a non-negative integer", name(f))),
        };
        let expires_at_s = number(StoredField::Expiration, self.expiration)?
            .ok_or_else(|| missing(StoredField::Expiration))?;
        let until_ms = number(
            StoredField::InProgressExpiration,
            self.in_progress_expiration,
        )?;
        // A record without our token (a Powertools writer's) is judged by its
        // lease end, and no token matches one of ours. A completed record
        // keeps the lease that completed it, fencing a retried complete.
        let lease = until_ms.map(|until_ms| Lease {
            token: self.lease_token.and_then(LeaseToken::parse),
            until_ms,
        });
        Ok(Record {
            key,
            status,
            expires_at_s,
            lease,
            fingerprint: self.validation.map(Fingerprint::from_stored),
            data: self.data,
        })
    }
}

/// Integers, and decimals with a zero fraction (`1700000000.0`), which other
/// SDKs may write for the same value.
fn parse_number(v: &str) -> Option<u64> {
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let (int, frac) = v.split_once('.')?;
    if frac.bytes().all(|b| b == b'0') {
        int.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_accept_zero_fractions_only() {
        assert_eq!(parse_number("17"), Some(17));
        assert_eq!(parse_number("17.000"), Some(17));
        assert_eq!(parse_number("17.5"), None);
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number("1e3"), None);
    }

    #[test]
    fn a_foreign_token_leaves_a_lease_without_token() {
        let fields = StoredFields {
            status: Some("INPROGRESS"),
            expiration: Some("1700003600"),
            in_progress_expiration: Some("1700000000123"),
            lease_token: Some("not one of ours"),
            ..StoredFields::default()
        };
        let r = fields
            .into_record("k".into(), |f| f.powertools_name().into())
            .expect("a record");
        assert_eq!(
            r.lease,
            Some(Lease {
                token: None,
                until_ms: 1_700_000_000_123
            })
        );
    }
}
