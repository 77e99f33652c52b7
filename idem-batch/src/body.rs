//! Record bodies as JSON, with errors that never quote the body.

use serde::de::DeserializeOwned;

/// A record body that is not the JSON the record function expects.
///
/// Unlike `serde_json::Error` (whose message quotes what it read: `invalid
/// type: string "alice@example.com"`), its `Display` gives only the kind of
/// problem, its position, and for a missing field the field's name (from
/// your type, not the body), so it can be logged.
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// struct Payment { order_id: String, amount_cents: u64 }
///
/// let e = idem_batch::parse_json::<Payment>(r#"{"order_id":"o-1","amount_cents":"alice@example.com"}"#).unwrap_err();
/// assert!(!e.to_string().contains("alice"));
/// assert_eq!(e.to_string(), "record body is JSON of another shape, at line 1 column 52");
/// let e = idem_batch::parse_json::<Payment>(r#"{"order_id":"o-1"}"#).unwrap_err();
/// assert_eq!(e.to_string(), "record body lacks field `amount_cents`, at line 1 column 18");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    kind: &'static str,
    field: Option<String>,
    line: usize,
    column: usize,
}

// No source: the serde_json error is dropped on purpose, since it quotes the body.
impl std::error::Error for BodyError {}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "record body lacks field `{field}`")?,
            None => write!(f, "record body is {}", self.kind)?,
        }
        if self.line > 0 {
            write!(f, ", at line {} column {}", self.line, self.column)?;
        }
        Ok(())
    }
}

impl BodyError {
    /// The error of a record that has no body at all.
    ///
    /// ```
    /// assert_eq!(idem_batch::BodyError::missing().to_string(), "record body is missing");
    /// ```
    pub fn missing() -> Self {
        BodyError {
            kind: "missing",
            field: None,
            line: 0,
            column: 0,
        }
    }

    fn from_json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Io => "unreadable",
            Category::Syntax => "not valid JSON",
            Category::Data => "JSON of another shape",
            Category::Eof => "truncated JSON",
        };
        // "missing field `x`" names a field of the target type, not the body.
        let message = e.to_string();
        let field = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        BodyError {
            kind,
            field,
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Parses a record body (`&str`, `String`, bytes) as JSON into `T`, with an
/// error safe to log ([`BodyError`]).
///
/// # Errors
///
/// [`BodyError`] when the body is not JSON of `T`'s shape.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Payment { order_id: String }
///
/// let payment: Payment = idem_batch::parse_json(r#"{"order_id":"o-1"}"#).unwrap();
/// assert_eq!(payment.order_id, "o-1");
/// assert!(idem_batch::parse_json::<Payment>(b"not json").is_err());
/// ```
pub fn parse_json<T: DeserializeOwned>(body: impl AsRef<[u8]>) -> Result<T, BodyError> {
    serde_json::from_slice(body.as_ref()).map_err(|e| BodyError::from_json(&e))
}

/// Parses an optional body (`SqsMessage::body`), a missing one being
/// [`BodyError::missing`].
///
/// # Errors
///
/// [`BodyError`] when the body is absent or not JSON of `T`'s shape.
///
/// ```
/// let body: Option<String> = None;
/// assert_eq!(idem_batch::parse_json_opt::<u32>(body.as_deref()), Err(idem_batch::BodyError::missing()));
/// assert_eq!(idem_batch::parse_json_opt::<u32>(Some("7")), Ok(7));
/// ```
pub fn parse_json_opt<T: DeserializeOwned>(body: Option<&str>) -> Result<T, BodyError> {
    parse_json(body.ok_or_else(BodyError::missing)?)
}
