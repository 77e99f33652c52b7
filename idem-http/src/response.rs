//! A response as saved in the store and replayed: status, headers and body
//! byte for byte, in the stored form of [`wire`](crate::wire).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::response::Parts;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use crate::wire::SavedResponse;

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
#[derive(Debug)]
pub(crate) enum Saved {
    /// A response to replay.
    Response(SavedResponse),
    /// A response that could not be buffered (larger than the response
    /// limit): its encoding fails, so the engine saves the record as
    /// completed without data and replays get `ReplayUnavailable`.
    Unsaveable,
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

impl Serialize for Saved {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Saved::Response(r) => crate::wire::serialize(r, serializer),
            Saved::Unsaveable => Err(S::Error::custom("the response was not buffered")),
        }
    }
}

impl<'de> Deserialize<'de> for Saved {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::deserialize(deserializer).map(Saved::Response)
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
    fn an_unbuffered_response_cannot_be_encoded() {
        assert!(serde_json::to_string(&Saved::Unsaveable).is_err());
    }
}
