//! Records as Redis hashes: the field names, and reading a record from a
//! script's (or `HMGET`'s) reply.

use idem_core::store::{Record, StoredFields};
use idem_core::StoreError;
use redis::Value;

use crate::error::corrupt;

/// The hash fields, in the order the scripts and `get` read them.
/// Powertools' names (`status`, `expiration`, `in_progress_expiration`,
/// `validation`, `data`), plus our `lease_token`.
pub(crate) const FIELDS: [&str; 6] = [
    STATUS,
    EXPIRATION,
    IN_PROGRESS_EXPIRATION,
    LEASE_TOKEN,
    VALIDATION,
    DATA,
];

pub(crate) const STATUS: &str = "status";
pub(crate) const EXPIRATION: &str = "expiration";
pub(crate) const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
pub(crate) const LEASE_TOKEN: &str = "lease_token";
pub(crate) const VALIDATION: &str = "validation";
pub(crate) const DATA: &str = "data";

/// Where a record was read, for [`StoreError::Corrupt`] reasons.
pub(crate) struct Origin<'a> {
    pub(crate) server: &'a str,
    pub(crate) redis_key: &'a str,
}

/// Reads a record from the six fields of [`FIELDS`] (each a bulk string or
/// nil). All nil means no record: `None`. Anything unexpected is
/// [`StoreError::Corrupt`] naming the key and the field, never a guess.
pub(crate) fn parse(
    origin: &Origin<'_>,
    key: &str,
    fields: Vec<Value>,
) -> Result<Option<Record>, StoreError> {
    let bad = |what: String| corrupt(origin.server, origin.redis_key, what);
    if fields.len() != FIELDS.len() {
        return Err(bad(format!(
            "expected {} fields, the server returned {}",
            FIELDS.len(),
            fields.len()
        )));
    }
    let mut values: Vec<Option<String>> = Vec::with_capacity(FIELDS.len());
    for (name, value) in FIELDS.iter().zip(fields) {
        values.push(text(name, value).map_err(&bad)?);
    }
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut values = values.into_iter();
    let mut next = || values.next().flatten();
    let (status, expiration, until, token, validation, data) =
        (next(), next(), next(), next(), next(), next());
    StoredFields {
        status: status.as_deref(),
        expiration: expiration.as_deref(),
        in_progress_expiration: until.as_deref(),
        lease_token: token.as_deref(),
        validation: validation.as_deref(),
        data,
    }
    .into_record(key.to_owned(), |f| {
        format!("field `{}`", f.powertools_name())
    })
    .map(Some)
    .map_err(bad)
}

/// A field's value as text: nil is `None`; the bytes must be UTF-8.
fn text(name: &str, value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("field `{name}` is not UTF-8 text")),
        Value::SimpleString(s) => Ok(Some(s)),
        Value::Int(n) => Ok(Some(n.to_string())),
        other => Err(format!(
            "field `{name}` has an unexpected reply type ({})",
            kind(&other)
        )),
    }
}

/// The name of a reply's type, for error messages (never its contents).
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "integer",
        Value::BulkString(_) => "bulk string",
        Value::Array(_) => "array",
        Value::SimpleString(_) => "simple string",
        Value::Okay => "OK",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        _ => "another type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idem_core::store::Status;
    use idem_core::Fingerprint;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn origin() -> Origin<'static> {
        Origin {
            server: "redis 127.0.0.1:6379",
            redis_key: "fn#abc",
        }
    }

    fn completed() -> Vec<Value> {
        vec![
            bulk("COMPLETED"),
            bulk("1700003600"),
            Value::Nil,
            Value::Nil,
            bulk("00ff"),
            bulk(r#"{"ok":true}"#),
        ]
    }

    #[test]
    fn reads_a_completed_record_without_a_lease() {
        let r = parse(&origin(), "fn#abc", completed())
            .expect("parse")
            .expect("a record");
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
    fn all_nil_is_no_record() {
        let none = parse(&origin(), "k", vec![Value::Nil; 6]).expect("parse");
        assert!(none.is_none());
    }

    #[test]
    fn a_foreign_token_matches_nothing() {
        let mut fields = completed();
        fields[0] = bulk("INPROGRESS");
        fields[2] = bulk("1700000000123");
        fields[3] = bulk("not one of ours");
        let r = parse(&origin(), "k", fields)
            .expect("parse")
            .expect("record");
        let lease = r.lease.expect("a lease");
        assert_eq!((lease.token, lease.until_ms), (None, 1_700_000_000_123));
    }

    #[test]
    fn corrupt_records_name_key_and_field_but_not_values_of_data() {
        let cases: [(usize, Value, &str); 4] = [
            (0, bulk("EXPIRED"), "unknown value `EXPIRED`"),
            (0, Value::Nil, "field `status` is missing"),
            (1, bulk("soon"), "field `expiration` holds `soon`"),
            (
                5,
                Value::BulkString(vec![0xff, 0xfe]),
                "field `data` is not UTF-8",
            ),
        ];
        for (i, value, expected) in cases {
            let mut fields = completed();
            fields[i] = value;
            let e = parse(&origin(), "k", fields).expect_err(expected);
            let text = e.to_string();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{text}");
            assert!(
                text.contains("key `fn#abc` on redis 127.0.0.1:6379"),
                "{text}"
            );
            assert!(text.contains(expected), "{text}");
        }
    }
}
