//! The run-time half of key paths: steps through an `Option` (`?`), lookups
//! into JSON values, maps and sequences (`[member]`, `[0]`), and JSON held
//! in a string (`json(…)`), parsed once per call however many parts use it.
//!
//! The typed half — fields, checked by the compiler — is plain field access
//! in the expansion; each dynamic step here may find nothing, and then the
//! whole part is missing ([`Error::MissingKey`](crate::Error::MissingKey)
//! naming it). `#[idempotent]` expands to these calls; the builder can use
//! them as they are:
//!
//! ```
//! use idem_core::path::{lookup, JsonOnce};
//! use idem_core::{Error, Idempotent, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let store = MemoryStore::new();
//! let body = Some(String::from(r#"{"tenant":"t-1","order":{"id":"o-9"}}"#));
//! let json = JsonOnce::new(); // parsed once for both parts
//! let total = Idempotent::new("docs::paths")
//!     .store(&store)
//!     .key("json(body)[tenant]", &json.root(&body).then(|v| lookup(v, "tenant")))
//!     .key(
//!         "json(body)[order][id]",
//!         &json.root(&body).then(|v| lookup(v, "order")).then(|v| lookup(v, "id")),
//!     )
//!     .run(|| async { Ok::<_, Error>(42) })
//!     .await?;
//! assert_eq!(total, 42);
//! # Ok(())
//! # }
//! ```

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};
use serde_json::Value;

/// A type a `?` step goes through.
#[diagnostic::on_unimplemented(
    message = "`?` in a key path goes through an `Option`, and `{Self}` is not one",
    label = "not an `Option`",
    note = "write `?` only after a field of type `Option<T>`"
)]
pub trait Optional {
    /// What the `Option` holds.
    type Inner;
    /// The value, if there is one.
    fn through(&self) -> Option<&Self::Inner>;
}

impl<T> Optional for Option<T> {
    type Inner = T;
    #[inline]
    fn through(&self) -> Option<&T> {
        self.as_ref()
    }
}

/// A type a `['member']` or `[index]` step looks into.
#[diagnostic::on_unimplemented(
    message = "`[…]` in a key path looks into JSON, a map or a sequence, and `{Self}` is none of those",
    label = "cannot be indexed by `{I}` in a key path",
    note = "`[name]` works on `serde_json::Value` and maps with string keys, `[0]` on `Value`, `Vec` and slices; fields of a struct are `.name`"
)]
pub trait Lookup<I> {
    /// What a lookup yields.
    type Output: ?Sized;
    /// The member or element, if present.
    fn lookup(&self, index: I) -> Option<&Self::Output>;
}

impl Lookup<&str> for Value {
    type Output = Value;
    #[inline]
    fn lookup(&self, index: &str) -> Option<&Value> {
        self.get(index)
    }
}

impl Lookup<usize> for Value {
    type Output = Value;
    #[inline]
    fn lookup(&self, index: usize) -> Option<&Value> {
        self.get(index)
    }
}

impl Lookup<&str> for serde_json::Map<String, Value> {
    type Output = Value;
    #[inline]
    fn lookup(&self, index: &str) -> Option<&Value> {
        self.get(index)
    }
}

impl<V, S: std::hash::BuildHasher> Lookup<&str> for HashMap<String, V, S> {
    type Output = V;
    #[inline]
    fn lookup(&self, index: &str) -> Option<&V> {
        self.get(index)
    }
}

impl<V> Lookup<&str> for BTreeMap<String, V> {
    type Output = V;
    #[inline]
    fn lookup(&self, index: &str) -> Option<&V> {
        self.get(index)
    }
}

impl<T> Lookup<usize> for Vec<T> {
    type Output = T;
    #[inline]
    fn lookup(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

impl<T> Lookup<usize> for [T] {
    type Output = T;
    #[inline]
    fn lookup(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

/// Text that `json(…)` parses: `String`, `str`, or an `Option` of them (the
/// SQS and API Gateway bodies are `Option<String>`).
#[diagnostic::on_unimplemented(
    message = "`json(…)` in a key path parses a string, and `{Self}` is not one",
    label = "not a `String`, `&str` or `Option<String>`"
)]
pub trait JsonText {
    /// The text, if there is any.
    fn text(&self) -> Option<&str>;
}

impl JsonText for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl JsonText for str {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: JsonText + ?Sized> JsonText for &T {
    fn text(&self) -> Option<&str> {
        (**self).text()
    }
}

impl<T: JsonText> JsonText for Option<T> {
    fn text(&self) -> Option<&str> {
        self.as_ref().and_then(JsonText::text)
    }
}

/// JSON parsed out of a string, once per call: every key part that starts
/// at the same `json(…)` shares it.
#[derive(Debug, Default)]
pub struct JsonOnce(OnceCell<Parsed>);

#[derive(Debug)]
enum Parsed {
    Value(Value),
    /// No text at all (`None`): the parts are missing.
    Absent,
    /// Not JSON: the parts cannot be hashed. The reason names the position,
    /// never the text.
    Invalid(String),
}

impl JsonOnce {
    /// An empty cell, parsed on first use.
    pub const fn new() -> Self {
        JsonOnce(OnceCell::new())
    }

    /// The root of a dynamic path into `text`.
    pub fn root<T: JsonText + ?Sized>(&self, text: &T) -> Part<'_, Value> {
        let parsed = self.0.get_or_init(|| match text.text() {
            None => Parsed::Absent,
            Some(text) => match serde_json::from_str(text) {
                Ok(value) => Parsed::Value(value),
                Err(e) => Parsed::Invalid(format!(
                    "not valid JSON (line {} column {})",
                    e.line(),
                    e.column()
                )),
            },
        });
        match parsed {
            Parsed::Value(v) => Part::Found(v),
            Parsed::Absent => Part::Missing,
            Parsed::Invalid(reason) => Part::Invalid(reason),
        }
    }
}

/// A key part on a path with dynamic steps: found, missing (hashed as a
/// missing part, so the call reports `MissingKey`), or unhashable.
#[derive(Debug)]
pub enum Part<'a, T: ?Sized> {
    /// The value at the end of the path.
    Found(&'a T),
    /// `None`, or an absent member, somewhere on the path.
    Missing,
    /// The JSON the path reads could not be parsed.
    Invalid(&'a str),
}

impl<'a, T: ?Sized> Part<'a, T> {
    /// The root of a path that starts at a parameter.
    #[inline]
    pub fn of(value: &'a T) -> Self {
        Part::Found(value)
    }

    /// A typed step (a field): `|v| &v.field`.
    #[inline]
    pub fn map<U: ?Sized>(self, step: impl FnOnce(&'a T) -> &'a U) -> Part<'a, U> {
        match self {
            Part::Found(v) => Part::Found(step(v)),
            Part::Missing => Part::Missing,
            Part::Invalid(r) => Part::Invalid(r),
        }
    }

    /// A step that may find nothing (`?`, `[…]`).
    #[inline]
    pub fn then<U: ?Sized>(self, step: impl FnOnce(&'a T) -> Option<&'a U>) -> Part<'a, U> {
        match self {
            Part::Found(v) => step(v).map_or(Part::Missing, Part::Found),
            Part::Missing => Part::Missing,
            Part::Invalid(r) => Part::Invalid(r),
        }
    }
}

impl<T: Serialize + ?Sized> Serialize for Part<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Part::Found(v) => v.serialize(serializer),
            Part::Missing => serializer.serialize_none(),
            Part::Invalid(reason) => Err(serde::ser::Error::custom(reason)),
        }
    }
}

/// `Optional::through`, as a function the expansion can pass to `then`.
#[inline]
pub fn through<O: Optional + ?Sized>(value: &O) -> Option<&O::Inner> {
    value.through()
}

/// `Lookup::lookup`, likewise.
#[inline]
pub fn lookup<L: Lookup<I> + ?Sized, I>(value: &L, index: I) -> Option<&L::Output> {
    value.lookup(index)
}
