//! Sequences, maps and enum variants: the compound half of the encoder.

use serde::ser::{self, Serialize};

use super::encoder::{nested, tag, HashError};
use super::scratch::{str_prefix, MapState, Scratch};

/// Sequences and tuples: ordered, closed by an end tag and the element count
/// (the length is not always known up front).
pub(super) struct SeqEncoder<'a> {
    pub(super) s: &'a mut Scratch,
    pub(super) count: u64,
}

impl SeqEncoder<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.count += 1;
        nested(self.s, value)
    }

    fn close(self) -> Result<(), HashError> {
        self.s.byte(tag::SEQ_END);
        self.s.varint(self.count);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

impl ser::SerializeTuple for SeqEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for SeqEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.element(value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

/// Maps and structs: entries written one after another, then put in
/// canonical order when the map closes.
pub(super) struct MapEncoder<'a> {
    pub(super) s: &'a mut Scratch,
    pub(super) map: MapState,
}

impl ser::SerializeMap for MapEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), HashError> {
        self.map.entry = self.s.out.len();
        nested(self.s, key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        nested(self.s, value)?;
        self.s.close_entry(&mut self.map);
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.s.close_map(self.map);
        Ok(())
    }
}

impl ser::SerializeStruct for MapEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        self.map.entry = self.s.out.len();
        self.s.str(key);
        nested(self.s, value)?;
        self.s
            .close_str_entry(&mut self.map, str_prefix(key.as_bytes()));
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.s.close_map(self.map);
        Ok(())
    }
}

/// Tuple and struct variants hash like `{"Variant": [..]}` and
/// `{"Variant": {..}}`: a one-entry map around a sequence (`inner` is
/// `None`) or a map.
pub(super) struct VariantEncoder<'a> {
    pub(super) s: &'a mut Scratch,
    pub(super) outer: MapState,
    pub(super) inner: Option<MapState>,
    pub(super) count: u64,
}

impl VariantEncoder<'_> {
    fn close(self) -> Result<(), HashError> {
        let VariantEncoder {
            s,
            mut outer,
            inner,
            count,
        } = self;
        match inner {
            Some(inner) => s.close_map(inner),
            None => {
                s.byte(tag::SEQ_END);
                s.varint(count);
            }
        }
        // The variant's name opened the entry; any prefix will do for one entry.
        s.close_str_entry(&mut outer, 0);
        s.close_map(outer);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for VariantEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), HashError> {
        self.count += 1;
        nested(self.s, value)
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}

impl ser::SerializeStructVariant for VariantEncoder<'_> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        let s = &mut *self.s;
        if let Some(inner) = self.inner.as_mut() {
            inner.entry = s.out.len();
            s.str(key);
            nested(s, value)?;
            s.close_str_entry(inner, str_prefix(key.as_bytes()));
        }
        Ok(())
    }
    fn end(self) -> Result<(), HashError> {
        self.close()
    }
}
