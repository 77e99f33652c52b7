//! Keys: stable structural hashing of `serde::Serialize` values.
//!
//! A key part is hashed by a serde [`Serializer`] that streams a canonical,
//! type-tagged, length-prefixed encoding into keyed blake3 (the key derived
//! from a versioned context string, one per domain: keys, fingerprints, map
//! entries). Nothing is serialized to JSON first, and nothing is allocated
//! unless one map entry's encoding exceeds 128 bytes.
//!
//! The encoding is *structural*, like the JSON a payload arrives as:
//!
//! - integers hash by value, whatever their Rust type (`5u8` == `5i64`);
//! - `f32` is widened to `f64`, and every NaN hashes alike;
//! - a struct hashes like a map from field names to values, and map entries
//!   are order-independent (a `HashMap` hashes the same in every order);
//! - `Some(x)` hashes like `x`, newtype structs like their content, and
//!   enums like JSON's externally tagged form (`"Variant"` or `{"Variant": …}`);
//! - type names never count, so renaming a struct does not change keys.
//!
//! These digests end up in stored records: a change here would make every
//! duplicate in flight run again. `tests/key_vectors.json` pins them (they
//! were last changed before the first release, for keyed hashing).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use serde::ser::{self, Serialize};

/// Appends `bytes` as lowercase hex. By hand, one table lookup per byte,
/// because `format!` and blake3's `to_hex` go through `fmt` (or a checked
/// `push`) one character at a time: a visible share of a replay.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        // Always ASCII; checking it is cheaper than one `fmt` call.
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).unwrap_or_default());
    }
}

/// The two hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    table
};

/// Context strings of the three hash domains. Each keys blake3 with a key
/// derived from it, so a key, a fingerprint and a map entry can never be
/// mistaken for one another. Changing one changes every stored key.
const KEY_CONTEXT: &str = "idem 2026-11-29 idempotency key v1";
const FINGERPRINT_CONTEXT: &str = "idem 2026-11-29 payload fingerprint v1";
const ENTRY_CONTEXT: &str = "idem 2026-11-29 map entry v1";

static KEY_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| blake3::derive_key(KEY_CONTEXT, b""));
static FINGERPRINT_KEY: LazyLock<[u8; 32]> =
    LazyLock::new(|| blake3::derive_key(FINGERPRINT_CONTEXT, b""));
static ENTRY_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| blake3::derive_key(ENTRY_CONTEXT, b""));

/// Keyed blake3 behind a small buffer. The encoding makes many writes of a few
/// bytes (a tag, a length), and most keys and map entries are short: those are
/// hashed in one call of `keyed_hash`, with no `Hasher` (two kilobytes) to set
/// up or move. Longer input spills into a boxed `Hasher`; the digest is the
/// same either way.
#[derive(Clone)]
struct Sink {
    key: &'static [u8; 32],
    buf: [u8; SINK_BUF],
    len: usize,
    spill: Option<Box<blake3::Hasher>>,
}

const SINK_BUF: usize = 128;

impl Sink {
    fn new(key: &'static [u8; 32]) -> Self {
        Sink {
            key,
            buf: [0; SINK_BUF],
            len: 0,
            spill: None,
        }
    }

    // Inlined, so the many fixed-size writes (a tag, a length) become plain
    // stores instead of `memcpy` calls.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.spill(bytes),
        }
    }

    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let key = self.key;
        let hasher = self
            .spill
            .get_or_insert_with(|| Box::new(blake3::Hasher::new_keyed(key)));
        hasher.update(&self.buf[..self.len]);
        self.len = 0;
        if bytes.len() > SINK_BUF {
            hasher.update(bytes);
        } else {
            self.buf[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        }
    }

    // By reference, so the buffer is not copied out of the builder first.
    fn finish(&mut self) -> blake3::Hash {
        match self.spill.take() {
            None => blake3::keyed_hash(self.key, &self.buf[..self.len]),
            Some(mut hasher) => {
                hasher.update(&self.buf[..self.len]);
                hasher.finalize()
            }
        }
    }
}

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
            if let Err(e) = hash_part(&mut self.hasher, value) {
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

/// Hashes payload parts into a fingerprint (`validate = …`): a replay whose
/// fingerprint differs from the saved one is a `PayloadMismatch`.
///
/// Unlike key parts, missing values are allowed: `None` is a legitimate
/// payload value.
///
/// ```
/// use idem_core::Fingerprint;
///
/// let a = Fingerprint::builder().part(&("EUR", 1250)).finish()?;
/// let b = Fingerprint::builder().part(&("EUR", 1250u64)).finish()?;
/// assert_eq!(a, b);
/// # Ok::<(), idem_core::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Starts a fingerprint.
    ///
    /// ```
    /// let empty = idem_core::Fingerprint::builder().finish()?;
    /// assert_eq!(empty.as_str().len(), 64);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn builder() -> FingerprintBuilder {
        FingerprintBuilder(KeyBuilder::new(Cow::Borrowed(""), &FINGERPRINT_KEY))
    }

    /// Wraps a fingerprint read back from a store.
    ///
    /// ```
    /// use idem_core::Fingerprint;
    ///
    /// let computed = Fingerprint::builder().part(&1250).finish()?;
    /// let stored = computed.as_str().to_owned(); // as a store keeps it
    /// assert_eq!(Fingerprint::from_stored(stored), computed);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Fingerprint(hex.into())
    }

    /// The stored form: 64 hex digits.
    ///
    /// ```
    /// let fp = idem_core::Fingerprint::builder().part("payload").finish()?;
    /// assert!(fp.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes the parts of a [`Fingerprint`].
///
/// ```
/// use idem_core::Fingerprint;
///
/// let a = Fingerprint::builder().part(&"EUR").part(&1250).finish()?;
/// let b = Fingerprint::builder().part(&"EUR").part(&1251).finish()?;
/// assert_ne!(a, b);
/// # Ok::<(), idem_core::KeyError>(())
/// ```
#[derive(Clone)]
pub struct FingerprintBuilder(KeyBuilder);

impl FingerprintBuilder {
    /// Hashes one payload part. Unlike key parts, `None` is a value here.
    ///
    /// ```
    /// use idem_core::Fingerprint;
    ///
    /// let none = Fingerprint::builder().part(&None::<u64>).finish()?;
    /// let zero = Fingerprint::builder().part(&Some(0u64)).finish()?;
    /// assert_ne!(none, zero);
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn part<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.add(value);
        self
    }

    // The work of `part`, by reference, as `KeyBuilder::add`.
    pub(crate) fn add<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.0.error.is_none() {
            if let Err(HashError::Custom(reason)) = nested(&mut self.0.hasher, value) {
                self.0.error = Some(Box::new(KeyError::Unhashable {
                    namespace: String::new(),
                    part: "validate".to_owned(),
                    reason,
                }));
            }
        }
    }

    /// The fingerprint, or why a part could not be hashed.
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let mut a = HashMap::new();
    /// a.insert("sku", 1);
    /// a.insert("qty", 2);
    /// let mut b = HashMap::new();
    /// b.insert("qty", 2);
    /// b.insert("sku", 1);
    /// let fa = idem_core::Fingerprint::builder().part(&a).finish()?;
    /// let fb = idem_core::Fingerprint::builder().part(&b).finish()?;
    /// assert_eq!(fa, fb); // maps are order-independent
    /// # Ok::<(), idem_core::KeyError>(())
    /// ```
    pub fn finish(mut self) -> Result<Fingerprint, KeyError> {
        match self.0.error {
            Some(e) => Err(*e),
            None => {
                let mut hex = String::with_capacity(64);
                push_hex(&mut hex, self.0.hasher.finish().as_bytes());
                Ok(Fingerprint(hex))
            }
        }
    }
}

fn hash_part<T: Serialize + ?Sized>(hasher: &mut Sink, value: &T) -> Result<(), HashError> {
    value.serialize(&mut Hashing { hasher, top: true })
}

#[derive(Debug)]
enum HashError {
    Missing,
    Custom(String),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::Missing => f.write_str("missing"),
            HashError::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HashError {}

impl ser::Error for HashError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        HashError::Custom(msg.to_string())
    }
}

// One tag per structural kind; never reorder or reuse (see the module docs).
mod tag {
    pub(super) const UNIT: u8 = 0;
    pub(super) const FALSE: u8 = 1;
    pub(super) const TRUE: u8 = 2;
    pub(super) const INT: u8 = 3;
    pub(super) const FLOAT: u8 = 4;
    pub(super) const STR: u8 = 5;
    pub(super) const BYTES: u8 = 6;
    pub(super) const SEQ: u8 = 7;
    pub(super) const SEQ_END: u8 = 8;
    pub(super) const MAP: u8 = 9;
    pub(super) const BIG_UINT: u8 = 10;
}

/// The hashing serializer. `top` is true only for the outermost value of a
/// key part, where `None`, unit and `""` mean "missing".
struct Hashing<'h> {
    hasher: &'h mut Sink,
    top: bool,
}

fn write_len(hasher: &mut Sink, n: u64) {
    hasher.write(&n.to_le_bytes());
}

fn write_str(hasher: &mut Sink, v: &str) {
    hasher.write(&[tag::STR]);
    write_len(hasher, v.len() as u64);
    hasher.write(v.as_bytes());
}

fn nested<T: Serialize + ?Sized>(hasher: &mut Sink, value: &T) -> Result<(), HashError> {
    value.serialize(&mut Hashing { hasher, top: false })
}

impl Hashing<'_> {
    fn int(&mut self, v: i128) -> Result<(), HashError> {
        self.hasher.write(&[tag::INT]);
        self.hasher.write(&v.to_le_bytes());
        Ok(())
    }

    fn map(&mut self) -> MapHashing<'_> {
        MapHashing {
            parent: self.hasher,
            sum: MapSum::default(),
            entry: None,
        }
    }
}

/// Order-independent combination of map entries: every entry is hashed on its
/// own and the entry digests are summed mod 2^256, so no buffer is needed.
#[derive(Default)]
struct MapSum {
    lanes: [u64; 4],
    count: u64,
}

impl MapSum {
    fn add(&mut self, mut entry: Sink) {
        let digest = entry.finish();
        let mut carry = 0u64;
        for (lane, bytes) in self.lanes.iter_mut().zip(digest.as_bytes().chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            let (s1, c1) = lane.overflowing_add(u64::from_le_bytes(word));
            let (s2, c2) = s1.overflowing_add(carry);
            *lane = s2;
            carry = u64::from(c1 || c2);
        }
        self.count += 1;
    }

    fn write(&self, hasher: &mut Sink) {
        hasher.write(&[tag::MAP]);
        write_len(hasher, self.count);
        for lane in self.lanes {
            hasher.write(&lane.to_le_bytes());
        }
    }
}

fn entry_hasher() -> Sink {
    Sink::new(&ENTRY_KEY)
}

impl<'a> ser::Serializer for &'a mut Hashing<'_> {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = SeqHashing<'a>;
    type SerializeTuple = SeqHashing<'a>;
    type SerializeTupleStruct = SeqHashing<'a>;
    type SerializeTupleVariant = VariantHashing<'a>;
    type SerializeMap = MapHashing<'a>;
    type SerializeStruct = MapHashing<'a>;
    type SerializeStructVariant = VariantHashing<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), HashError> {
        self.hasher.write(&[if v { tag::TRUE } else { tag::FALSE }]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), HashError> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), HashError> {
        self.int(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), HashError> {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => {
                self.hasher.write(&[tag::BIG_UINT]);
                self.hasher.write(&v.to_le_bytes());
                Ok(())
            }
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), HashError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), HashError> {
        // One NaN and one zero, so values equal as JSON numbers hash alike.
        let v = if v.is_nan() {
            f64::NAN
        } else if v == 0.0 {
            0.0
        } else {
            v
        };
        self.hasher.write(&[tag::FLOAT]);
        self.hasher.write(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), HashError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), HashError> {
        if self.top && v.is_empty() {
            return Err(HashError::Missing);
        }
        write_str(self.hasher, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), HashError> {
        if self.top && v.is_empty() {
            return Err(HashError::Missing);
        }
        self.hasher.write(&[tag::BYTES]);
        write_len(self.hasher, v.len() as u64);
        self.hasher.write(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), HashError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), HashError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), HashError> {
        if self.top {
            return Err(HashError::Missing);
        }
        self.hasher.write(&[tag::UNIT]);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), HashError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), HashError> {
        write_str(self.hasher, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        let mut entry = entry_hasher();
        write_str(&mut entry, variant);
        nested(&mut entry, value)?;
        let mut sum = MapSum::default();
        sum.add(entry);
        sum.write(self.hasher);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqHashing<'a>, HashError> {
        self.hasher.write(&[tag::SEQ]);
        Ok(SeqHashing {
            hasher: &mut *self.hasher,
            count: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqHashing<'a>, HashError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqHashing<'a>, HashError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantHashing<'a>, HashError> {
        let mut entry = entry_hasher();
        write_str(&mut entry, variant);
        entry.write(&[tag::SEQ]);
        Ok(VariantHashing {
            parent: &mut *self.hasher,
            entry,
            inner: MapSum::default(),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapHashing<'a>, HashError> {
        Ok(self.map())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapHashing<'a>, HashError> {
        Ok(self.map())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantHashing<'a>, HashError> {
        let mut entry = entry_hasher();
        write_str(&mut entry, variant);
        Ok(VariantHashing {
            parent: &mut *self.hasher,
            entry,
            inner: MapSum::default(),
        })
    }
}

/// Sequences and tuples: ordered, closed by an end tag and the element count
/// (the length is not always known up front).
struct SeqHashing<'a> {
    hasher: &'a mut Sink,
    count: u64,
}

impl SeqHashing<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.count += 1;
        nested(self.hasher, value)
    }

    fn close(self) -> Result<(), HashError> {
        self.hasher.write(&[tag::SEQ_END]);
        write_len(self.hasher, self.count);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

impl ser::SerializeTuple for SeqHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for SeqHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

/// Maps and structs (see [`MapSum`]).
struct MapHashing<'a> {
    parent: &'a mut Sink,
    sum: MapSum,
    entry: Option<Sink>,
}

impl MapHashing<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), HashError> {
        let mut entry = entry_hasher();
        write_str(&mut entry, key);
        nested(&mut entry, value)?;
        self.sum.add(entry);
        Ok(())
    }
}

impl ser::SerializeMap for MapHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), HashError> {
        let mut entry = entry_hasher();
        nested(&mut entry, key)?;
        self.entry = Some(entry);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        let mut entry = self
            .entry
            .take()
            .ok_or_else(|| HashError::Custom("map value without a key".to_owned()))?;
        nested(&mut entry, value)?;
        self.sum.add(entry);
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.sum.write(self.parent);
        Ok(())
    }
}

impl ser::SerializeStruct for MapHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), HashError> {
        self.sum.write(self.parent);
        Ok(())
    }
}

/// Tuple and struct variants hash like `{"Variant": [..]}` and
/// `{"Variant": {..}}`: a one-entry map around a sequence or a map.
struct VariantHashing<'a> {
    parent: &'a mut Sink,
    entry: Sink,
    inner: MapSum,
}

impl VariantHashing<'_> {
    fn close(self, inner_is_seq: bool) -> Result<(), HashError> {
        let mut entry = self.entry;
        if inner_is_seq {
            entry.write(&[tag::SEQ_END]);
            write_len(&mut entry, self.inner.count);
        } else {
            self.inner.write(&mut entry);
        }
        let mut outer = MapSum::default();
        outer.add(entry);
        outer.write(self.parent);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for VariantHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.inner.count += 1;
        nested(&mut self.entry, value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close(true)
    }
}

impl ser::SerializeStructVariant for VariantHashing<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        let mut field = entry_hasher();
        write_str(&mut field, key);
        nested(&mut field, value)?;
        self.inner.add(field);
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.close(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffered and the spilled path give the digest of the whole input,
    /// however it is split into writes.
    #[test]
    fn push_hex_matches_blake3s_hex() {
        let digest = blake3::hash(b"idem");
        let mut ours = String::new();
        push_hex(&mut ours, digest.as_bytes());
        assert_eq!(ours, digest.to_hex().as_str());
    }

    #[test]
    fn sink_digest_is_independent_of_write_sizes_and_spilling() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for total in [0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1000] {
            let expected = blake3::keyed_hash(&ENTRY_KEY, &data[..total]);
            for step in [1, 3, 64, 127, 128, 129, 500] {
                let mut sink = Sink::new(&ENTRY_KEY);
                for chunk in data[..total].chunks(step) {
                    sink.write(chunk);
                }
                assert_eq!(sink.finish(), expected, "total {total}, step {step}");
            }
        }
    }
}
