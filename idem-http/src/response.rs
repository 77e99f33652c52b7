//! A response as saved in the store and replayed: status, headers and body
//! byte for byte, as compact JSON (the store's data is a JSON string).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::response::Parts;
use http::StatusCode;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Headers never saved: hop-by-hop ones (RFC 9110 §7.6.1) and the ones that
/// belong to one response rather than to the result.
///
/// - hop-by-hop: `connection`, `keep-alive`, `proxy-connection`,
///   `proxy-authenticate`, `te`, `trailer`, `transfer-encoding`, `upgrade`,
///   and any header the `Connection` header names;
/// - per response: `date` (the replay's server adds its own),
///   `content-length` (recomputed from the saved body), `set-cookie`
///   (credentials do not belong in the idempotency store), and the replay
///   marker header itself.
pub const NOT_SAVED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "date",
    "content-length",
    "set-cookie",
];

/// What the engine saves for one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Saved {
    /// A response to replay.
    Response(SavedResponse),
    /// A response that could not be buffered (larger than the response
    /// limit): its encoding fails, so the engine saves the record as
    /// completed without data and replays get `ReplayUnavailable`.
    Unsaveable,
}

/// A response to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl SavedResponse {
    /// The saveable part of a response: its headers minus [`NOT_SAVED`],
    /// the ones `Connection` names and `marker`.
    pub(crate) fn new(parts: &Parts, body: Bytes, marker: Option<&HeaderName>) -> Self {
        let named_by_connection: Vec<&[u8]> = parts
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .collect();
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            let n = name.as_str();
            let dropped = NOT_SAVED.contains(&n)
                || marker == Some(name)
                || named_by_connection
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(n.as_bytes()));
            if !dropped {
                headers.append(name.clone(), value.clone());
            }
        }
        SavedResponse {
            status: parts.status,
            headers,
            body,
        }
    }
}

/// The JSON form: `{"s":201,"h":[["content-type","application/json"]],"j":{…}}`.
/// A body that is one JSON value, exactly, is kept as is (`j`: no escaping
/// to undo on replay); another UTF-8 body is a string (`b`); any other body
/// or header value is base64 (`"b64":true`, or a third element `1` on the
/// header).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    s: u16,
    #[serde(borrow)]
    h: Vec<WireHeader<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    j: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    b: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    b64: bool,
}

/// The body as one raw JSON value, if it is exactly one (no surrounding
/// whitespace, which `RawValue` would not keep).
fn raw_json(body: &[u8]) -> Option<&RawValue> {
    let first = *body.first()?;
    if !matches!(first, b'{' | b'[') {
        return None;
    }
    serde_json::from_slice::<&RawValue>(body)
        .ok()
        .filter(|raw| raw.get().len() == body.len())
}

#[derive(Serialize, Deserialize)]
struct WireHeader<'a>(
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "is_zero")] u8,
);

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn text_or_b64(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.into(), false),
        Err(_) => (B64.encode(bytes).into(), true),
    }
}

impl Serialize for Saved {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Saved::Response(r) = self else {
            return Err(S::Error::custom("the response was not buffered"));
        };
        let j = raw_json(&r.body);
        let (b, b64) = match j {
            Some(_) => (std::borrow::Cow::Borrowed(""), false),
            None => text_or_b64(&r.body),
        };
        let h = r
            .headers
            .iter()
            .map(|(name, value)| {
                let (v, bin) = text_or_b64(value.as_bytes());
                WireHeader(name.as_str().into(), v, u8::from(bin))
            })
            .collect();
        Wire {
            s: r.status.as_u16(),
            h,
            j,
            b,
            b64,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Saved {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let status = StatusCode::from_u16(wire.s).map_err(D::Error::custom)?;
        let bytes = |text: std::borrow::Cow<'_, str>, b64: bool| -> Result<Bytes, D::Error> {
            if b64 {
                B64.decode(text.as_bytes())
                    .map(Bytes::from)
                    .map_err(|_| D::Error::custom("invalid base64"))
            } else {
                Ok(Bytes::from(text.into_owned()))
            }
        };
        let mut headers = HeaderMap::with_capacity(wire.h.len());
        for WireHeader(name, value, bin) in wire.h {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| D::Error::custom("invalid header name"))?;
            let value = HeaderValue::from_maybe_shared(bytes(value, bin != 0)?)
                .map_err(|_| D::Error::custom("invalid header value"))?;
            headers.append(name, value);
        }
        Ok(Saved::Response(SavedResponse {
            status,
            headers,
            body: match wire.j {
                Some(raw) => Bytes::copy_from_slice(raw.get().as_bytes()),
                None => bytes(wire.b, wire.b64)?,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Response::builder().status(201);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_response_round_trips_byte_for_byte_without_per_response_headers() {
        let parts = parts(&[
            ("content-type", "application/json"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("date", "Tue, 01 Dec 2026 09:00:00 GMT"),
            ("set-cookie", "session=secret"),
            ("connection", "x-hop"),
            ("x-hop", "gone"),
            ("idempotent-replayed", "true"),
        ]);
        let marker = HeaderName::from_static("idempotent-replayed");
        let body = Bytes::from_static(b"{\"id\":\"\xc3\xa9\"}\n");
        let saved = Saved::Response(SavedResponse::new(&parts, body.clone(), Some(&marker)));
        let json = serde_json::to_string(&saved).unwrap();
        let Saved::Response(back) = serde_json::from_str(&json).unwrap() else {
            panic!()
        };
        assert_eq!(back.status, 201);
        assert_eq!(back.body, body);
        let names: Vec<_> = back
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("content-type", "application/json"),
                ("x-a", "1"),
                ("x-a", "2")
            ]
        );
    }

    #[test]
    fn binary_bodies_and_header_values_are_base64() {
        let mut parts = parts(&[]);
        parts
            .headers
            .insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        let body = Bytes::from_static(&[0, 159, 146, 150, 255]);
        let saved = Saved::Response(SavedResponse::new(&parts, body.clone(), None));
        let json = serde_json::to_string(&saved).unwrap();
        assert!(json.contains("\"b64\":true"), "{json}");
        let Saved::Response(back) = serde_json::from_str(&json).unwrap() else {
            panic!()
        };
        assert_eq!(back.body, body);
        assert_eq!(back.headers["x-bin"].as_bytes(), b"\xff\xfe");
    }

    #[test]
    fn json_bodies_are_kept_raw_and_other_text_as_a_string() {
        let parts = parts(&[]);
        for body in [
            &b"{\"a\": [1, 2.50, \"x\\u0041\"]}"[..],
            b" {\"a\":1}\n",
            b"[1,2]",
            b"plain text",
            b"",
            b"{not json",
        ] {
            let saved = Saved::Response(SavedResponse::new(
                &parts,
                Bytes::copy_from_slice(body),
                None,
            ));
            let json = serde_json::to_string(&saved).unwrap();
            let Saved::Response(back) = serde_json::from_str(&json).unwrap() else {
                panic!()
            };
            assert_eq!(back.body, body, "{json}");
        }
    }

    #[test]
    fn an_unbuffered_response_cannot_be_encoded() {
        assert!(serde_json::to_string(&Saved::Unsaveable).is_err());
    }
}
