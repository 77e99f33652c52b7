//! Keys: stable structural hashing of `serde::Serialize` values.
//!
//! A key part is hashed by a serde [`Serializer`] that streams a canonical,
//! type-tagged, length-prefixed encoding straight into blake3. Nothing is
//! serialized to JSON first and plain structs hash without allocating.
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
//! duplicate in flight run again. `tests/key_vectors.json` pins them.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{self, Serialize};

/// Context string of blake3's key-derivation mode for idempotency keys.
const KEY_CONTEXT: &str = "idem 2026-11-29 idempotency key v1";
/// Context string for payload fingerprints (`validate = …`), kept apart from
/// keys so a fingerprint can never be mistaken for a key.
const FINGERPRINT_CONTEXT: &str = "idem 2026-11-29 payload fingerprint v1";
/// Context string for one map entry; entries are combined order-independently.
const ENTRY_CONTEXT: &str = "idem 2026-11-29 map entry v1";

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
    pub fn builder(namespace: impl Into<Cow<'static, str>>) -> KeyBuilder {
        KeyBuilder::new(namespace.into(), KEY_CONTEXT)
    }

    /// Builds a key from a namespace and a digest computed elsewhere.
    pub fn from_digest(namespace: impl Into<Cow<'static, str>>, digest: [u8; 32]) -> Self {
        let namespace = namespace.into();
        let storage = format!("{namespace}#{}", blake3::Hash::from(digest).to_hex());
        Key {
            namespace,
            digest,
            storage,
        }
    }

    /// The namespace: the guarded function (`module::path::fn_name`) unless named.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The 32-byte blake3 digest of the key parts.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The key as stores save it: `"{namespace}#{64 hex digits}"`.
    ///
    /// Pass it downstream as an idempotency key of its own (for example
    /// Stripe's `Idempotency-Key` header).
    pub fn storage_key(&self) -> &str {
        &self.storage
    }

    /// The first 8 hex digits of the digest, for logs and error messages.
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
#[derive(Clone, Copy)]
pub struct ShortKey<'a>(&'a Key);

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = &self.0.storage[self.0.namespace.len() + 1..];
        write!(f, "{}#{}", self.0.namespace, &hex[..8])
    }
}

/// Why a key could not be built.
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
#[derive(Clone)]
pub struct KeyBuilder {
    namespace: Cow<'static, str>,
    hasher: blake3::Hasher,
    error: Option<KeyError>,
}

impl KeyBuilder {
    fn new(namespace: Cow<'static, str>, context: &str) -> Self {
        KeyBuilder {
            namespace,
            hasher: blake3::Hasher::new_derive_key(context),
            error: None,
        }
    }

    pub(crate) fn namespace(&self) -> &Cow<'static, str> {
        &self.namespace
    }

    /// Hashes one part. `name` is how the part is reported when missing.
    pub fn part<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        if self.error.is_none() {
            if let Err(e) = hash_part(&mut self.hasher, value) {
                self.error = Some(match e {
                    HashError::Missing => KeyError::Missing {
                        namespace: self.namespace.to_string(),
                        part: name.to_owned(),
                    },
                    HashError::Custom(reason) => KeyError::Unhashable {
                        namespace: self.namespace.to_string(),
                        part: name.to_owned(),
                        reason,
                    },
                });
            }
        }
        self
    }

    /// The key, or the first part that failed.
    pub fn finish(self) -> Result<Key, KeyError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(Key::from_digest(
                self.namespace,
                *self.hasher.finalize().as_bytes(),
            )),
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
    pub fn builder() -> FingerprintBuilder {
        FingerprintBuilder(KeyBuilder::new(Cow::Borrowed(""), FINGERPRINT_CONTEXT))
    }

    /// Wraps a fingerprint read back from a store.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Fingerprint(hex.into())
    }

    /// The stored form: 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes the parts of a [`Fingerprint`].
#[derive(Clone)]
pub struct FingerprintBuilder(KeyBuilder);

impl FingerprintBuilder {
    /// Hashes one payload part.
    pub fn part<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        if self.0.error.is_none() {
            if let Err(HashError::Custom(reason)) = nested(&mut self.0.hasher, value) {
                self.0.error = Some(KeyError::Unhashable {
                    namespace: String::new(),
                    part: "validate".to_owned(),
                    reason,
                });
            }
        }
        self
    }

    /// The fingerprint, or why a part could not be hashed.
    pub fn finish(self) -> Result<Fingerprint, KeyError> {
        match self.0.error {
            Some(e) => Err(e),
            None => Ok(Fingerprint(self.0.hasher.finalize().to_hex().to_string())),
        }
    }
}

fn hash_part<T: Serialize + ?Sized>(
    hasher: &mut blake3::Hasher,
    value: &T,
) -> Result<(), HashError> {
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
    hasher: &'h mut blake3::Hasher,
    top: bool,
}

fn write_len(hasher: &mut blake3::Hasher, n: u64) {
    hasher.update(&n.to_le_bytes());
}

fn write_str(hasher: &mut blake3::Hasher, v: &str) {
    hasher.update(&[tag::STR]);
    write_len(hasher, v.len() as u64);
    hasher.update(v.as_bytes());
}

fn nested<T: Serialize + ?Sized>(hasher: &mut blake3::Hasher, value: &T) -> Result<(), HashError> {
    value.serialize(&mut Hashing { hasher, top: false })
}

impl Hashing<'_> {
    fn int(&mut self, v: i128) -> Result<(), HashError> {
        self.hasher.update(&[tag::INT]);
        self.hasher.update(&v.to_le_bytes());
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
    fn add(&mut self, entry: &blake3::Hasher) {
        let digest = entry.finalize();
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

    fn write(&self, hasher: &mut blake3::Hasher) {
        hasher.update(&[tag::MAP]);
        write_len(hasher, self.count);
        for lane in self.lanes {
            hasher.update(&lane.to_le_bytes());
        }
    }
}

fn entry_hasher() -> blake3::Hasher {
    blake3::Hasher::new_derive_key(ENTRY_CONTEXT)
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
        self.hasher
            .update(&[if v { tag::TRUE } else { tag::FALSE }]);
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
                self.hasher.update(&[tag::BIG_UINT]);
                self.hasher.update(&v.to_le_bytes());
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
        self.hasher.update(&[tag::FLOAT]);
        self.hasher.update(&v.to_bits().to_le_bytes());
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
        self.hasher.update(&[tag::BYTES]);
        write_len(self.hasher, v.len() as u64);
        self.hasher.update(v);
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
        self.hasher.update(&[tag::UNIT]);
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
        sum.add(&entry);
        sum.write(self.hasher);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqHashing<'a>, HashError> {
        self.hasher.update(&[tag::SEQ]);
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
        entry.update(&[tag::SEQ]);
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
    hasher: &'a mut blake3::Hasher,
    count: u64,
}

impl SeqHashing<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.count += 1;
        nested(self.hasher, value)
    }

    fn close(self) -> Result<(), HashError> {
        self.hasher.update(&[tag::SEQ_END]);
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
    parent: &'a mut blake3::Hasher,
    sum: MapSum,
    entry: Option<blake3::Hasher>,
}

impl MapHashing<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), HashError> {
        let mut entry = entry_hasher();
        write_str(&mut entry, key);
        nested(&mut entry, value)?;
        self.sum.add(&entry);
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
        self.sum.add(&entry);
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
    parent: &'a mut blake3::Hasher,
    entry: blake3::Hasher,
    inner: MapSum,
}

impl VariantHashing<'_> {
    fn close(self, inner_is_seq: bool) -> Result<(), HashError> {
        let mut entry = self.entry;
        if inner_is_seq {
            entry.update(&[tag::SEQ_END]);
            write_len(&mut entry, self.inner.count);
        } else {
            self.inner.write(&mut entry);
        }
        let mut outer = MapSum::default();
        outer.add(&entry);
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
        self.inner.add(&field);
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.close(false)
    }
}
