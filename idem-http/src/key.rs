//! The `Idempotency-Key` header: an sf-string (RFC 8941) per the draft, or a
//! bare token, leniently.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName};

/// Why a request's idempotency key was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The header is present but empty (`""` included).
    Empty,
    /// Longer than the configured maximum, in bytes after unquoting.
    TooLong,
    /// Not an sf-string nor a run of visible ASCII characters.
    Malformed,
    /// The header appears more than once.
    Repeated,
}

impl KeyError {
    /// The problem detail: says what is wrong, never echoes the key.
    pub(crate) fn detail(self, header: &HeaderName, max: usize) -> String {
        match self {
            KeyError::Empty => format!("the {header} header is empty"),
            KeyError::TooLong => format!("the {header} header is longer than {max} bytes"),
            KeyError::Malformed => format!(
                "the {header} header must be a structured-field string (\"…\") of printable ASCII"
            ),
            KeyError::Repeated => format!("the {header} header appears more than once"),
        }
    }
}

/// The key in `headers[name]`: `Ok(None)` when there is none.
pub(crate) fn from_headers<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    max_len: usize,
) -> Result<Option<Cow<'h, str>>, KeyError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(KeyError::Repeated);
    }
    let key = parse(value.as_bytes())?;
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > max_len {
        return Err(KeyError::TooLong);
    }
    Ok(Some(key))
}

/// An sf-string (`"abc"`, with `\"` and `\\` escapes), or a bare run of
/// visible ASCII, as many clients send (`Idempotency-Key: 8e03978e-…`).
fn parse(raw: &[u8]) -> Result<Cow<'_, str>, KeyError> {
    let raw = raw.trim_ascii();
    let Some(inner) = raw.strip_prefix(b"\"") else {
        return if raw.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'"') {
            // Visible ASCII is valid UTF-8.
            std::str::from_utf8(raw)
                .map(Cow::Borrowed)
                .map_err(|_| KeyError::Malformed)
        } else {
            Err(KeyError::Malformed)
        };
    };
    let inner = inner.strip_suffix(b"\"").ok_or(KeyError::Malformed)?;
    let mut unescaped: Option<Vec<u8>> = None;
    let mut bytes = inner.iter().enumerate();
    while let Some((i, &b)) = bytes.next() {
        match b {
            b'\\' => {
                let out = unescaped.get_or_insert_with(|| inner[..i].to_vec());
                match bytes.next() {
                    Some((_, &e @ (b'"' | b'\\'))) => out.push(e),
                    _ => return Err(KeyError::Malformed),
                }
            }
            b'"' => return Err(KeyError::Malformed),
            0x20..=0x7e => {
                if let Some(out) = unescaped.as_mut() {
                    out.push(b);
                }
            }
            _ => return Err(KeyError::Malformed),
        }
    }
    let text = |bytes| String::from_utf8(bytes).map_err(|_| KeyError::Malformed);
    match unescaped {
        Some(out) => text(out).map(Cow::Owned),
        None => std::str::from_utf8(inner)
            .map(Cow::Borrowed)
            .map_err(|_| KeyError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<Option<String>, KeyError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "idempotency-key",
            raw.parse().unwrap_or_else(|_| unreachable!()),
        );
        from_headers(&headers, &HeaderName::from_static("idempotency-key"), 16)
            .map(|k| k.map(Cow::into_owned))
    }

    #[test]
    fn sf_strings_and_bare_tokens_are_keys() {
        assert_eq!(key("\"8e03978e\""), Ok(Some("8e03978e".into())));
        assert_eq!(key("8e03978e"), Ok(Some("8e03978e".into())));
        assert_eq!(key(r#""a\"b\\c""#), Ok(Some(r#"a"b\c"#.into())));
        assert_eq!(key("\"a b\""), Ok(Some("a b".into())));
    }

    #[test]
    fn empty_long_and_malformed_keys_are_refused() {
        assert_eq!(key("\"\""), Err(KeyError::Empty));
        assert_eq!(key(""), Err(KeyError::Empty));
        assert_eq!(key("\"0123456789abcdefg\""), Err(KeyError::TooLong));
        assert_eq!(key("\"open"), Err(KeyError::Malformed));
        assert_eq!(key("a b"), Err(KeyError::Malformed));
        assert_eq!(key(r#""bad\escape""#), Err(KeyError::Malformed));
    }

    #[test]
    fn a_repeated_header_is_refused() {
        let mut headers = HeaderMap::new();
        headers.append(
            "idempotency-key",
            "a".parse().unwrap_or_else(|_| unreachable!()),
        );
        headers.append(
            "idempotency-key",
            "b".parse().unwrap_or_else(|_| unreachable!()),
        );
        let name = HeaderName::from_static("idempotency-key");
        assert_eq!(from_headers(&headers, &name, 16), Err(KeyError::Repeated));
    }
}
