//! The canonical encoding: a serde [`Serializer`](ser::Serializer) writing
//! type-tagged, length-prefixed bytes, with map entries in a canonical order.
//!
//! | value | encoding |
//! |---|---|
//! | unit, `None` | `0` |
//! | `false` / `true` | `1` / `2` |
//! | integer (any width, by value) | `3`, zigzag LEB128 of the value as `i128` |
//! | `u128` above `i128::MAX` | `10`, 16 bytes little-endian |
//! | float (`f32` widened) | `4`, the `f64`'s bits little-endian (one NaN, one zero) |
//! | string, char | `5`, LEB128 length, UTF-8 bytes |
//! | bytes | `6`, LEB128 length, bytes |
//! | sequence, tuple | `7`, elements, `8`, LEB128 count |
//! | map, struct | `9`, entries (key, value) in canonical order, `11`, LEB128 count |
//!
//! Every encoding is self-delimiting, so a concatenation has one reading.
//! Map entries are sorted by the bytes of their key string (the order of a
//! `BTreeMap<String, _>`, so a `serde_json::Value` object usually arrives
//! sorted), then by their whole encoding; entries with a non-string key come
//! after, by their encoding. Enums take JSON's externally tagged form: a
//! unit variant is its name as a string, the others a one-entry map.

use std::fmt;

use serde::ser::{self, Serialize};

use super::compound::{MapEncoder, SeqEncoder, VariantEncoder};
use super::scratch::{str_prefix, Scratch, SCRATCH};
use super::sink::Sink;
use crate::pool::MAX_KEPT;

// One tag per structural kind; never reorder or reuse (see the module docs).
pub(super) mod tag {
    pub(in crate::key) const UNIT: u8 = 0;
    pub(in crate::key) const FALSE: u8 = 1;
    pub(in crate::key) const TRUE: u8 = 2;
    pub(in crate::key) const INT: u8 = 3;
    pub(in crate::key) const FLOAT: u8 = 4;
    pub(in crate::key) const STR: u8 = 5;
    pub(in crate::key) const BYTES: u8 = 6;
    pub(in crate::key) const SEQ: u8 = 7;
    pub(in crate::key) const SEQ_END: u8 = 8;
    pub(in crate::key) const MAP: u8 = 9;
    pub(in crate::key) const BIG_UINT: u8 = 10;
    pub(in crate::key) const MAP_END: u8 = 11;
}

#[derive(Debug)]
pub(super) enum HashError {
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

/// Encodes `value` and writes the encoding to `sink`. `top` marks the
/// outermost value of a key part, where `None`, unit and `""` are missing.
pub(super) fn encode<T: Serialize + ?Sized>(
    sink: &mut Sink,
    value: &T,
    top: bool,
) -> Result<(), HashError> {
    // Borrowed in place; a `Serialize` impl that builds a key of its own
    // meanwhile (or a thread being torn down) gets a fresh buffer instead.
    SCRATCH
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => encode_with(&mut s, sink, value, top),
            Err(_) => encode_with(&mut Scratch::default(), sink, value, top),
        })
        .unwrap_or_else(|_| encode_with(&mut Scratch::default(), sink, value, top))
}

fn encode_with<T: Serialize + ?Sized>(
    s: &mut Scratch,
    sink: &mut Sink,
    value: &T,
    top: bool,
) -> Result<(), HashError> {
    s.out.clear();
    s.ranges.clear();
    if s.out.capacity() == 0 {
        // The last large part went to a sink, whose finish pooled it.
        s.out = crate::pool::take();
    }
    let result = value.serialize(&mut Encoder { s, top });
    if result.is_ok() {
        sink.write_vec(&mut s.out);
    }
    if s.out.capacity().max(s.tmp.capacity()) > MAX_KEPT {
        *s = Scratch::default();
    }
    result
}

/// The hashing serializer. `top` is true only for the outermost value of a
/// key part, where `None`, unit and `""` mean "missing".
struct Encoder<'s> {
    s: &'s mut Scratch,
    top: bool,
}

pub(super) fn nested<T: Serialize + ?Sized>(s: &mut Scratch, value: &T) -> Result<(), HashError> {
    value.serialize(&mut Encoder { s, top: false })
}

impl<'a> ser::Serializer for &'a mut Encoder<'_> {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = SeqEncoder<'a>;
    type SerializeTuple = SeqEncoder<'a>;
    type SerializeTupleStruct = SeqEncoder<'a>;
    type SerializeTupleVariant = VariantEncoder<'a>;
    type SerializeMap = MapEncoder<'a>;
    type SerializeStruct = MapEncoder<'a>;
    type SerializeStructVariant = VariantEncoder<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), HashError> {
        self.s.byte(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), HashError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), HashError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), HashError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), HashError> {
        // The zigzag of an i64 fits a u64: the common case's short loop.
        self.s.byte(tag::INT);
        self.s.varint(((v << 1) ^ (v >> 63)) as u64);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), HashError> {
        self.s.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), HashError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), HashError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), HashError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), HashError> {
        match i64::try_from(v) {
            Ok(v) => self.serialize_i64(v),
            Err(_) => self.serialize_i128(v.into()),
        }
    }
    fn serialize_u128(self, v: u128) -> Result<(), HashError> {
        match i128::try_from(v) {
            Ok(v) => self.s.int(v),
            Err(_) => {
                self.s.byte(tag::BIG_UINT);
                self.s.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
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
        self.s.byte(tag::FLOAT);
        self.s.out.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), HashError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), HashError> {
        if self.top && v.is_empty() {
            return Err(HashError::Missing);
        }
        self.s.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), HashError> {
        if self.top && v.is_empty() {
            return Err(HashError::Missing);
        }
        self.s.prefixed(tag::BYTES, v);
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
        self.s.byte(tag::UNIT);
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
        self.s.str(variant);
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
        let mut outer = self.s.open_map();
        self.s.str(variant);
        nested(self.s, value)?;
        self.s
            .close_str_entry(&mut outer, str_prefix(variant.as_bytes()));
        self.s.close_map(outer);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqEncoder<'a>, HashError> {
        self.s.byte(tag::SEQ);
        Ok(SeqEncoder {
            s: &mut *self.s,
            count: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqEncoder<'a>, HashError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqEncoder<'a>, HashError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantEncoder<'a>, HashError> {
        let outer = self.s.open_map();
        self.s.str(variant);
        self.s.byte(tag::SEQ);
        Ok(VariantEncoder {
            s: &mut *self.s,
            outer,
            inner: None,
            count: 0,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapEncoder<'a>, HashError> {
        let map = self.s.open_map();
        Ok(MapEncoder {
            s: &mut *self.s,
            map,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapEncoder<'a>, HashError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantEncoder<'a>, HashError> {
        let outer = self.s.open_map();
        self.s.str(variant);
        let inner = self.s.open_map();
        Ok(VariantEncoder {
            s: &mut *self.s,
            outer,
            inner: Some(inner),
            count: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut s = Scratch::default();
        value
            .serialize(&mut Encoder {
                s: &mut s,
                top: false,
            })
            .expect("encodes");
        s.out
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        assert_eq!(encoding(&-1i8), [tag::INT, 1]);
        assert_eq!(encoding(&300u16), [tag::INT, 0xd8, 0x04]);
        assert_eq!(encoding(&u64::MAX), encoding(&i128::from(u64::MAX)));
        assert_eq!(encoding("ab"), [tag::STR, 2, b'a', b'b']);
        assert_eq!(encoding(&[true]), [tag::SEQ, tag::TRUE, tag::SEQ_END, 1]);
        let map: std::collections::HashMap<&str, ()> = [("b", ()), ("a", ())].into();
        let a = [tag::STR, 1, b'a', tag::UNIT];
        let b = [tag::STR, 1, b'b', tag::UNIT];
        let expected = [&[tag::MAP][..], &a, &b, &[tag::MAP_END, 2]].concat();
        assert_eq!(encoding(&map), expected);
    }
}
