//! Keys: stable structural hashing of `serde::Serialize` values.
//!
//! A key part is encoded by a serde `Serializer` (`encoder.rs`) into a
//! canonical, type-tagged, length-prefixed byte string, which is hashed with
//! keyed blake3 (the key derived from a versioned context string, one per
//! domain: keys, fingerprints). Nothing is serialized to JSON first; the
//! encoding is written to a per-thread buffer that is reused, so hashing
//! allocates nothing in steady state, and blake3 sees long inputs whole.
//!
//! The encoding is *structural*, like the JSON a payload arrives as:
//!
//! - integers hash by value, whatever their Rust type (`5u8` == `5i64`);
//! - `f32` is widened to `f64`, and every NaN hashes alike;
//! - a struct hashes like a map from field names to values, and map entries
//!   are order-independent (a `HashMap` hashes the same in every order): a
//!   map's entries are put in a canonical order before they are hashed;
//! - `Some(x)` hashes like `x`, newtype structs like their content, and
//!   enums like JSON's externally tagged form (`"Variant"` or `{"Variant": …}`);
//! - type names never count, so renaming a struct does not change keys.
//!
//! These digests end up in stored records: a change here would make every
//! duplicate in flight run again. `tests/key_vectors.json` pins them. They
//! were changed on 2026-12-01, before the first release, for speed (entries
//! sorted instead of hashed one by one, LEB128 lengths and integers, contexts
//! `v2`); this was the last chance to do so before a first release.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use serde::Serialize;

mod compound;
mod encoder;
mod fingerprint;
mod hex;
mod scratch;
mod sink;

pub use fingerprint::{Fingerprint, FingerprintBuilder};

pub(crate) use hex::push_hex;

use encoder::{encode, HashError};
use sink::Sink;

/// Context strings of the hash domains. Each keys blake3 with a key derived
/// from it, so a key and a fingerprint can never be mistaken for one
/// another. Changing one changes every stored key.
const KEY_CONTEXT: &str = "idem 2026-12-01 idempotency key v2";
const FINGERPRINT_CONTEXT: &str = "idem 2026-12-01 payload fingerprint v2";

static KEY_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| blake3::derive_key(KEY_CONTEXT, b""));
static FINGERPRINT_KEY: LazyLock<[u8; 32]> =
    LazyLock::new(|| blake3::derive_key(FINGERPRINT_CONTEXT, b""));

/// An idempotency key: the namespace of the guarded function and the blake3
/// digest of its key parts.
///
/// The stored form is `"{namespace}#{hex digest}"`: payload values never
/// appear in a store's keys.
///
/// ```
/// use idem_core::Key;
///
/// let key = Key::builder("billing::charge").part("order_id", &"ord-42").finish()?;
/// assert!(key.storage_key().starts_with("billing::charge#"));
/// assert_eq!(key.storage_key().len(), "billing::charge#".len() + 64);
/// # Ok::<(), idem_core::KeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    namespace: Cow<'static, str>,
    digest: [u8; 32],
    storage: String,
}

impl Key {
    /// Starts hashing the parts of a key in `namespace`.
    ///
    /// ```
    /// use idem_core::Key;
    ///
    /// let key = Key::builder("billing::charge").part("tenant", &7).part("order_id", "ord-1").finish()?;
    /// assert_eq!(key.namespace(), "billing::charge");
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn builder(namespace: impl Into<Cow<'static, str>>) -> KeyBuilder {
        KeyBuilder::new(namespace.into(), &KEY_KEY)
    }

    /// Builds a key from a namespace and a digest computed elsewhere.
    ///
    /// ```
    /// use idem_core::Key;
    ///
    /// let key = Key::from_digest("billing::charge", [0xab; 32]);
    /// assert_eq!(key.storage_key(), format!("billing::charge#{}", "ab".repeat(32)));
    /// ```
    pub fn from_digest(namespace: impl Into<Cow<'static, str>>, digest: [u8; 32]) -> Self {
        let namespace = namespace.into();
        let mut storage = String::with_capacity(namespace.len() + 1 + 64);
        storage.push_str(&namespace);
        storage.push('#');
        push_hex(&mut storage, &digest);
        Key {
            namespace,
            digest,
            storage,
        }
    }

    /// The namespace: the guarded function (`module::path::fn_name`) unless named.
    ///
    /// ```
    /// let key = idem_core::Key::from_digest("billing::charge", [0; 32]);
    /// assert_eq!(key.namespace(), "billing::charge");
    /// ```
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub(crate) fn namespace_cow(&self) -> &Cow<'static, str> {
        &self.namespace
    }

    /// The 32-byte blake3 digest of the key parts.
    ///
    /// ```
    /// use idem_core::Key;
    ///
    /// let a = Key::builder("ns::a").part("id", "x").finish()?;
    /// let b = Key::builder("ns::b").part("id", "x").finish()?;
    /// assert_eq!(a.digest(), b.digest()); // same parts; the namespaces keep them apart
    /// assert_ne!(a.storage_key(), b.storage_key());
    /// let c = Key::builder("ns::a").part("id", "y").finish()?;
    /// assert_ne!(a.digest(), c.digest());
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    fn hex(&self) -> &str {
        &self.storage[self.namespace.len() + 1..]
    }

    /// The key as stores save it: `"{namespace}#{64 hex digits}"`.
    ///
    /// Pass it downstream as an idempotency key of its own (for example
    /// Stripe's `Idempotency-Key` header).
    ///
    /// ```
    /// let key = idem_core::Key::builder("billing::charge").part("id", "ord-1").finish()?;
    /// let header = key.storage_key();
    /// assert!(header.starts_with("billing::charge#"));
    /// assert!(!header.contains("ord-1")); // never the payload
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn storage_key(&self) -> &str {
        &self.storage
    }

    /// The first 8 hex digits of the digest, for logs and error messages.
    ///
    /// ```
    /// let key = idem_core::Key::from_digest("billing::charge", [0x1a; 32]);
    /// assert_eq!(key.short().to_string(), "billing::charge#1a1a1a1a");
    /// ```
    pub fn short(&self) -> ShortKey<'_> {
        ShortKey(self)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.storage)
    }
}

/// `namespace#1a2b3c4d`: enough of a key to find it in logs, never a payload.
///
/// ```
/// let key = idem_core::Key::from_digest("billing::charge", [0x2b; 32]);
/// tracing::info!(key = %key.short(), "charged");
/// assert_eq!(format!("{}", key.short()), "billing::charge#2b2b2b2b");
/// ```
#[derive(Clone, Copy)]
pub struct ShortKey<'a>(&'a Key);

impl fmt::Debug for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortKey({self})")
    }
}

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.0.namespace, &self.0.hex()[..8])
    }
}

/// Why a key could not be built.
///
/// ```
/// use idem_core::{Key, KeyError};
///
/// let order_id: Option<&str> = None;
/// let err = Key::builder("billing::charge").part("order.order_id", &order_id).finish().unwrap_err();
/// assert!(matches!(err, KeyError::Missing { ref part, .. } if part == "order.order_id"));
/// assert_eq!(
///     err.to_string(),
///     "key part `order.order_id` is missing (None, null or empty) in `billing::charge`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key part was `None`, unit/null or an empty string.
    #[error("key part `{part}` is missing (None, null or empty) in `{namespace}`")]
    Missing {
        /// Namespace of the key.
        namespace: String,
        /// The part as written in `key = "…"`.
        part: String,
    },
    /// A key part's `Serialize` implementation failed.
    #[error("key part `{part}` of `{namespace}` cannot be hashed: {reason}")]
    Unhashable {
        /// Namespace of the key.
        namespace: String,
        /// The part as written in `key = "…"`.
        part: String,
        /// What the `Serialize` implementation reported.
        reason: String,
    },
}

/// Hashes key parts one after another; see [`Key::builder`].
///
/// The first failing part is kept and reported by [`KeyBuilder::finish`], so a
/// chain of `.part(…)` calls needs no error handling in between.
///
/// ```
/// use idem_core::{Key, KeyError};
///
/// let empty = "";
/// let err = Key::builder("ns::f").part("a", &1).part("b", &empty).part("c", &None::<u8>).finish();
/// assert!(matches!(err, Err(KeyError::Missing { part, .. }) if part == "b"));
/// ```
#[derive(Clone)]
pub struct KeyBuilder {
    namespace: Cow<'static, str>,
    hasher: Sink,
    // Boxed: the builder is moved at every step of a chain, and errors are rare.
    error: Option<Box<KeyError>>,
}

/// The namespace and whether a part failed; never the hashed values.
impl fmt::Debug for KeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyBuilder")
            .field("namespace", &self.namespace)
            .field("failed", &self.error.is_some())
            .finish_non_exhaustive()
    }
}

impl KeyBuilder {
    fn new(namespace: Cow<'static, str>, key: &'static [u8; 32]) -> Self {
        KeyBuilder {
            namespace,
            hasher: Sink::new(key),
            error: None,
        }
    }

    pub(crate) fn namespace(&self) -> &Cow<'static, str> {
        &self.namespace
    }

    /// Hashes one part. `name` is how the part is reported when missing.
    /// Parts are not concatenated: `("ab", "c")` and `("a", "bc")` differ.
    ///
    /// ```
    /// use idem_core::Key;
    ///
    /// let ab_c = Key::builder("ns::f").part("x", "ab").part("y", "c").finish()?;
    /// let a_bc = Key::builder("ns::f").part("x", "a").part("y", "bc").finish()?;
    /// assert_ne!(ab_c, a_bc);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    #[inline]
    pub fn part<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        self.add(name, value);
        self
    }

    // The work of `part`, by reference: a by-value builder chain then
    // inlines to no copies of the builder.
    pub(crate) fn add<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        if self.error.is_none() {
            if let Err(e) = encode(&mut self.hasher, value, true) {
                self.error = Some(Box::new(match e {
                    HashError::Missing => KeyError::Missing {
                        namespace: self.namespace.to_string(),
                        part: name.to_owned(),
                    },
                    HashError::Custom(reason) => KeyError::Unhashable {
                        namespace: self.namespace.to_string(),
                        part: name.to_owned(),
                        reason,
                    },
                }));
            }
        }
    }

    /// The key, or the first part that failed.
    ///
    /// ```
    /// let key = idem_core::Key::builder("ns::f").part("id", &42u64).finish()?;
    /// assert_eq!(key.storage_key().len(), "ns::f#".len() + 64);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn finish(mut self) -> Result<Key, KeyError> {
        self.finish_in_place()
    }

    // For the engine, which finishes its builder where it lies rather than
    // copying it out first. Leaves the builder spent.
    pub(crate) fn finish_in_place(&mut self) -> Result<Key, KeyError> {
        match self.error.take() {
            Some(e) => Err(*e),
            None => {
                let digest = self.hasher.finish();
                let namespace = std::mem::take(&mut self.namespace);
                Ok(Key::from_digest(namespace, *digest.as_bytes()))
            }
        }
    }
}
