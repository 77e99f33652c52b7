//! The saved response's stored form, version 1: the JSON the engine keeps
//! in the record's `data` (a DynamoDB `S` attribute), written on a first
//! request and read on every replay.
//!
//! ```text
//! ["idem-http/1 201 swapped","content-type: application/json","x-trace:: //79","{'id':'ord_0001'}"]
//! ```
//!
//! One JSON array: the version and status first, then one string per
//! header, `name: value`, or `name:: base64` for a value that is not UTF-8
//! (header names never hold a `:`), and last the body, one string. The first
//! element ends in ` base64` when the body is not UTF-8 (the string is its
//! base64), or in ` swapped` when the body's `"` and `'` are swapped in the
//! string.
//!
//! Why the swap: a JSON body holds a `"` for every key and string, and each
//! would be a `\"` in the stored string; undoing those on every replay cost
//! more than the rest of the decoding. Swapped, the string usually has no
//! escape at all, so a replay scans it and copies it once (flipping the two
//! bytes back), and it stays readable in a DynamoDB console. A body is
//! swapped when it has more `"` than `'`. (Kept as raw JSON instead, the
//! body had to be validated as JSON on every write and every read, which
//! cost twice what the swap does.)

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serializer};

/// The first element's prefix; data of another version is a decode error.
const VERSION: &str = "idem-http/1 ";
const BASE64_BODY: &str = " base64";
const SWAPPED_BODY: &str = " swapped";
/// Headers most replays hold, with the marker and `content-length` the
/// replay adds: one allocation, no growth.
const HEADERS: usize = 6;

/// A response to replay: status, headers and body, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why saved data is not a response of this version. Says what is wrong,
/// never what the data holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    Version,
    Status,
    Header,
    Body,
    Base64,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Version => "not a saved response of version idem-http/1",
            WireError::Status => "invalid status in the saved response",
            WireError::Header => "invalid header in the saved response",
            WireError::Body => "invalid or missing body in the saved response",
            WireError::Base64 => "invalid base64 in the saved response",
        })
    }
}

/// `text`'s bytes with `"` and `'` swapped: the body's string in the stored
/// form, and back (the swap is its own inverse). Both are ASCII, so the
/// result is as valid UTF-8 as `text`.
fn swap_quotes(text: &str) -> Vec<u8> {
    let swap = |b: u8| match b {
        b'"' => b'\'',
        b'\'' => b'"',
        other => other,
    };
    text.bytes().map(swap).collect()
}

/// Writes `r` in the stored form. Each string is built whole and written
/// once (formatting them through `collect_str` cost a fifth of a first
/// request).
pub(crate) fn serialize<S: Serializer>(
    r: &SavedResponse,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = std::str::from_utf8(&r.body).ok();
    let swapped = text.is_some_and(|t| {
        let quotes = t.bytes().filter(|b| *b == b'"').count();
        quotes > t.bytes().filter(|b| *b == b'\'').count()
    });
    let mut line = String::with_capacity(64);
    line.push_str(VERSION);
    line.push_str(r.status.as_str());
    match (text, swapped) {
        (None, _) => line.push_str(BASE64_BODY),
        (Some(_), true) => line.push_str(SWAPPED_BODY),
        (Some(_), false) => {}
    }
    let mut seq = serializer.serialize_seq(Some(r.headers.len() + 2))?;
    seq.serialize_element(&line)?;
    for (name, value) in &r.headers {
        line.clear();
        line.push_str(name.as_str());
        match std::str::from_utf8(value.as_bytes()) {
            Ok(value) => {
                line.push_str(": ");
                line.push_str(value);
            }
            Err(_) => {
                line.push_str(":: ");
                B64.encode_string(value.as_bytes(), &mut line);
            }
        }
        seq.serialize_element(&line)?;
    }
    match text {
        Some(text) if swapped => {
            let swapped = String::from_utf8(swap_quotes(text))
                .map_err(|_| S::Error::custom("the swapped body is not UTF-8"))?;
            seq.serialize_element(&swapped)?;
        }
        Some(text) => seq.serialize_element(text)?,
        None => seq.serialize_element(&B64.encode(&r.body))?,
    }
    seq.end()
}

/// Reads the stored form: with serde_json's `from_str`, which lends the
/// elements out of the data instead of copying them.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SavedResponse, D::Error> {
    d.deserialize_seq(SeqVisitor)
}

struct SeqVisitor;

/// How the body's string holds the body.
#[derive(Clone, Copy)]
enum BodyForm {
    Text,
    Swapped,
    Base64,
}

impl<'de> Visitor<'de> for SeqVisitor {
    type Value = SavedResponse;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a saved response (an idem-http/1 array)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SavedResponse, A::Error> {
        let error = |e: WireError| A::Error::custom(e);
        let first = seq
            .next_element::<Text<'de>>()?
            .ok_or_else(|| error(WireError::Version))?;
        let line = first
            .0
            .strip_prefix(VERSION)
            .ok_or_else(|| error(WireError::Version))?;
        let (code, form) = if let Some(code) = line.strip_suffix(BASE64_BODY) {
            (code, BodyForm::Base64)
        } else if let Some(code) = line.strip_suffix(SWAPPED_BODY) {
            (code, BodyForm::Swapped)
        } else {
            (line, BodyForm::Text)
        };
        let status =
            StatusCode::from_bytes(code.as_bytes()).map_err(|_| error(WireError::Status))?;
        let mut headers = HeaderMap::with_capacity(HEADERS);
        // Each element is a header until the next one shows it was not the
        // last: the last is the body.
        let mut pending: Option<Text<'de>> = None;
        while let Some(next) = seq.next_element::<Text<'de>>()? {
            if let Some(line) = pending.replace(next) {
                let (name, value) = header(&line.0).map_err(error)?;
                headers.append(name, value);
            }
        }
        let Text(text) = pending.ok_or_else(|| error(WireError::Body))?;
        let body = match form {
            BodyForm::Base64 => {
                let bytes = B64.decode(text.as_bytes());
                Bytes::from(bytes.map_err(|_| error(WireError::Base64))?)
            }
            BodyForm::Swapped => Bytes::from(swap_quotes(&text)),
            BodyForm::Text => match text {
                Cow::Borrowed(text) => Bytes::copy_from_slice(text.as_bytes()),
                Cow::Owned(text) => Bytes::from(text),
            },
        };
        Ok(SavedResponse {
            status,
            headers,
            body,
        })
    }
}

/// A string element, borrowed from the data when it has no escapes (the
/// usual case: one scan by serde_json, no copy). serde's own `Cow<str>`
/// always copies.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        d.deserialize_str(TextVisitor)
    }
}

fn header(line: &str) -> Result<(HeaderName, HeaderValue), WireError> {
    let (name, value) = line.split_once(':').ok_or(WireError::Header)?;
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| WireError::Header)?;
    let value = match value.strip_prefix(": ") {
        Some(encoded) => HeaderValue::from_maybe_shared(Bytes::from(
            B64.decode(encoded).map_err(|_| WireError::Base64)?,
        )),
        None => HeaderValue::from_str(value.strip_prefix(' ').ok_or(WireError::Header)?),
    };
    Ok((name, value.map_err(|_| WireError::Header)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;

    struct Wire(SavedResponse);

    impl Serialize for Wire {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, serializer)
        }
    }

    fn from_json(json: &str) -> Result<SavedResponse, serde_json::Error> {
        deserialize(&mut serde_json::Deserializer::from_str(json))
    }

    fn round_trip(status: u16, headers: HeaderMap, body: &[u8]) -> String {
        let saved = SavedResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Bytes::copy_from_slice(body),
        };
        let json = serde_json::to_string(&Wire(saved.clone())).unwrap();
        assert_eq!(from_json(&json).unwrap(), saved, "{json}");
        json
    }

    #[test]
    fn the_stored_form_is_readable_and_pinned() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static(" \"2\""));
        headers.insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(
            round_trip(201, headers, b"{\"id\": [1, 2.50]}"),
            r#"["idem-http/1 201 swapped","content-type: application/json","x-a: 1","x-a:  \"2\"","x-bin:: //4=","{'id': [1, 2.50]}"]"#
        );
    }

    #[test]
    fn text_binary_and_empty_bodies_round_trip() {
        // A body with more `"` than `'` is swapped; the others are kept as they are.
        for (body, form) in [
            (
                &b" {\"a\":1}\n"[..],
                r#"["idem-http/1 200 swapped"," {'a':1}\n"]"#,
            ),
            (
                b"{\"it's\":\"a\"}",
                r#"["idem-http/1 200 swapped","{'it\"s':'a'}"]"#,
            ),
            (b"[1,2]", r#"["idem-http/1 200","[1,2]"]"#),
            (b"it's 'a' \"b\"", r#"["idem-http/1 200","it's 'a' \"b\""]"#),
            (b"", r#"["idem-http/1 200",""]"#),
            (b"\\ \"\\\"", r#"["idem-http/1 200 swapped","\\ '\\'"]"#),
        ] {
            assert_eq!(round_trip(200, HeaderMap::new(), body), form);
        }
        let json = round_trip(200, HeaderMap::new(), &[0, 159, 146, 150, 255]);
        assert_eq!(json, r#"["idem-http/1 200 base64","AJ+Slv8="]"#);
    }

    #[test]
    fn other_or_corrupt_data_is_a_typed_error() {
        for json in [
            r#"{"s":201,"h":[],"b":"x"}"#,
            r#""idem-http/1 201""#,
            "[]",
            r#"["idem-http/2 201","x"]"#,
            r#"["idem-http/1 2x1","x"]"#,
            r#"["idem-http/1 201"]"#,
            r#"["idem-http/1 201","no colon","x"]"#,
            r#"["idem-http/1 201","x-a:1","x"]"#,
            r#"["idem-http/1 201","bad name: 1","x"]"#,
            r#"["idem-http/1 201","x-a: \u0001","x"]"#,
            r#"["idem-http/1 201","x-a:: %%","x"]"#,
            r#"["idem-http/1 201",7,"x"]"#,
            r#"["idem-http/1 201 base64","%%"]"#,
            r#"["idem-http/1 201 base64",{"a":1}]"#,
            r#"["idem-http/1 201",{"a":1}]"#,
            r#"["idem-http/1 201 swapped",["a"]]"#,
            r#"["idem-http/1 201",7]"#,
            r#"["idem-http/1 201",null]"#,
            r#"["idem-http/1 201","x-a: 1","#,
        ] {
            assert!(from_json(json).is_err(), "{json}");
        }
    }

    fn header_value() -> impl Strategy<Value = HeaderValue> {
        // Visible ASCII, spaces, tabs and obs-text: every byte a value may hold.
        proptest::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..24)
            .prop_map(|bytes| HeaderValue::from_bytes(&bytes).unwrap())
    }

    proptest! {
        #[test]
        fn any_response_round_trips(
            status in 100u16..1000,
            headers in proptest::collection::vec(("[a-z][a-z0-9-]{0,12}", header_value()), 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            text in "(?s).{0,64}",
            binary in any::<bool>(),
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
            }
            round_trip(status, map, if binary { &body } else { text.as_bytes() });
        }

        #[test]
        fn any_prefix_of_stored_data_decodes_or_fails_without_panicking(cut in 0usize..120, junk in "(?s).{0,16}") {
            let json = r#"["idem-http/1 201","content-type: application/json","x-bin:: //4=",{"id":"ord_0001"}]"#;
            let mut data = json[..cut.min(json.len())].to_owned();
            data.push_str(&junk);
            let _ = from_json(&data);
        }
    }
}
