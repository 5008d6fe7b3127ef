//! Dynamic epee values, for input whose shape is not known in advance (debugging, tools,
//! fuzzing, and checking that re-encoding reproduces monerod's bytes).

use bytes::{BufMut, Bytes};

use crate::{
    EpeeObject, EpeeValue, ErrorKind, Marker, Reader, Result, TypeCode, value::write_string,
    varint::write_varint,
};

/// Any epee value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `i64`.
    I64(i64),
    /// `i32`.
    I32(i32),
    /// `i16`.
    I16(i16),
    /// `i8`.
    I8(i8),
    /// `u64`.
    U64(u64),
    /// `u32`.
    U32(u32),
    /// `u16`.
    U16(u16),
    /// `u8`.
    U8(u8),
    /// `double`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// A string (arbitrary bytes).
    String(Bytes),
    /// A nested object.
    Object(Section),
    /// An array.
    Array(Array),
}

/// An epee array: all elements share one type.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// Array of `i64`.
    I64(Vec<i64>),
    /// Array of `i32`.
    I32(Vec<i32>),
    /// Array of `i16`.
    I16(Vec<i16>),
    /// Array of `i8`.
    I8(Vec<i8>),
    /// Array of `u64`.
    U64(Vec<u64>),
    /// Array of `u32`.
    U32(Vec<u32>),
    /// Array of `u16`.
    U16(Vec<u16>),
    /// Array of `u8`.
    U8(Vec<u8>),
    /// Array of `double`.
    F64(Vec<f64>),
    /// Array of `bool`.
    Bool(Vec<bool>),
    /// Array of strings.
    String(Vec<Bytes>),
    /// Array of objects.
    Object(Vec<Section>),
    /// Array of arrays (each may have its own element type).
    Array(Vec<Array>),
}

/// An object: its fields in the order they were read (or are to be written).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    /// `(name, value)` pairs.
    pub fields: Vec<(Bytes, Value)>,
}

impl Section {
    /// The value of field `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(key, _)| key.as_ref() == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// Sorts the fields (recursively) by name, the order monerod writes them in.
    pub fn sort(&mut self) {
        self.fields.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, value) in &mut self.fields {
            value.sort();
        }
    }
}

impl Value {
    fn sort(&mut self) {
        match self {
            Self::Object(section) => section.sort(),
            Self::Array(array) => array.sort(),
            _ => {}
        }
    }
}

impl Array {
    fn sort(&mut self) {
        match self {
            Self::Object(sections) => sections.iter_mut().for_each(Section::sort),
            Self::Array(arrays) => arrays.iter_mut().for_each(Self::sort),
            _ => {}
        }
    }

    /// The marker of this array.
    #[must_use]
    pub fn marker(&self) -> Marker {
        Marker::array_of(match self {
            Self::I64(_) => TypeCode::I64,
            Self::I32(_) => TypeCode::I32,
            Self::I16(_) => TypeCode::I16,
            Self::I8(_) => TypeCode::I8,
            Self::U64(_) => TypeCode::U64,
            Self::U32(_) => TypeCode::U32,
            Self::U16(_) => TypeCode::U16,
            Self::U8(_) => TypeCode::U8,
            Self::F64(_) => TypeCode::F64,
            Self::Bool(_) => TypeCode::Bool,
            Self::String(_) => TypeCode::String,
            Self::Object(_) => TypeCode::Object,
            Self::Array(_) => TypeCode::Array,
        })
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::I64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Object(v) => v.len(),
            Self::Array(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_body(r: &mut Reader<'_>, marker: Marker) -> Result<Self> {
        let marker = r.resolve_array_marker(marker)?;
        r.nested(|r| {
            let len = r.read_array_len(marker.code)?;
            Ok(match marker.code {
                TypeCode::I64 => Self::I64(read_elements(r, len)?),
                TypeCode::I32 => Self::I32(read_elements(r, len)?),
                TypeCode::I16 => Self::I16(read_elements(r, len)?),
                TypeCode::I8 => Self::I8(read_elements(r, len)?),
                TypeCode::U64 => Self::U64(read_elements(r, len)?),
                TypeCode::U32 => Self::U32(read_elements(r, len)?),
                TypeCode::U16 => Self::U16(read_elements(r, len)?),
                TypeCode::U8 => Self::U8(read_elements(r, len)?),
                TypeCode::F64 => Self::F64(read_elements(r, len)?),
                TypeCode::Bool => Self::Bool(read_elements(r, len)?),
                TypeCode::String => Self::String(read_elements(r, len)?),
                TypeCode::Object => Self::Object(read_elements(r, len)?),
                TypeCode::Array => {
                    let mut arrays = Vec::with_capacity(Reader::prealloc::<Self>(len));
                    for _ in 0..len {
                        let inner = r.read_marker()?;
                        arrays.push(Self::read_body(r, inner)?);
                    }
                    Self::Array(arrays)
                }
            })
        })
    }

    fn write_body<B: BufMut>(&self, w: &mut B) -> Result<()> {
        match self {
            Self::I64(v) => v.write(w),
            Self::I32(v) => v.write(w),
            Self::I16(v) => v.write(w),
            Self::I8(v) => v.write(w),
            Self::U64(v) => v.write(w),
            Self::U32(v) => v.write(w),
            Self::U16(v) => v.write(w),
            Self::U8(v) => v.write(w),
            Self::F64(v) => v.write(w),
            Self::Bool(v) => v.write(w),
            Self::String(v) => v.write(w),
            Self::Object(v) => v.write(w),
            Self::Array(arrays) => {
                write_varint(w, arrays.len() as u64)?;
                for array in arrays {
                    w.put_u8(array.marker().to_byte());
                    array.write_body(w)?;
                }
                Ok(())
            }
        }
    }
}

fn read_elements<'de, T: EpeeValue<'de>>(r: &mut Reader<'de>, len: usize) -> Result<Vec<T>> {
    let mut items = Vec::with_capacity(Reader::prealloc::<T>(len));
    for _ in 0..len {
        items.push(T::read(r, T::MARKER)?);
    }
    Ok(items)
}

impl<'de> EpeeValue<'de> for Value {
    /// Nominal only: a dynamic value's real marker comes from [`EpeeValue::marker`].
    const MARKER: Marker = Marker::scalar(TypeCode::Object);

    fn read(r: &mut Reader<'de>, marker: Marker) -> Result<Self> {
        if marker.is_array || marker.code == TypeCode::Array {
            return Array::read_body(r, marker).map(Self::Array);
        }
        Ok(match marker.code {
            TypeCode::I64 => Self::I64(EpeeValue::read(r, marker)?),
            TypeCode::I32 => Self::I32(EpeeValue::read(r, marker)?),
            TypeCode::I16 => Self::I16(EpeeValue::read(r, marker)?),
            TypeCode::I8 => Self::I8(EpeeValue::read(r, marker)?),
            TypeCode::U64 => Self::U64(EpeeValue::read(r, marker)?),
            TypeCode::U32 => Self::U32(EpeeValue::read(r, marker)?),
            TypeCode::U16 => Self::U16(EpeeValue::read(r, marker)?),
            TypeCode::U8 => Self::U8(EpeeValue::read(r, marker)?),
            TypeCode::F64 => Self::F64(EpeeValue::read(r, marker)?),
            TypeCode::Bool => Self::Bool(EpeeValue::read(r, marker)?),
            TypeCode::String => Self::String(EpeeValue::read(r, marker)?),
            TypeCode::Object | TypeCode::Array => Self::Object(EpeeValue::read(r, marker)?),
        })
    }

    fn write<B: BufMut>(&self, w: &mut B) -> Result<()> {
        match self {
            Self::I64(v) => v.write(w),
            Self::I32(v) => v.write(w),
            Self::I16(v) => v.write(w),
            Self::I8(v) => v.write(w),
            Self::U64(v) => v.write(w),
            Self::U32(v) => v.write(w),
            Self::U16(v) => v.write(w),
            Self::U8(v) => v.write(w),
            Self::F64(v) => v.write(w),
            Self::Bool(v) => v.write(w),
            Self::String(v) => write_string(w, v),
            Self::Object(v) => v.write_fields(w),
            Self::Array(v) => v.write_body(w),
        }
    }

    fn marker(&self) -> Marker {
        match self {
            Self::I64(_) => Marker::scalar(TypeCode::I64),
            Self::I32(_) => Marker::scalar(TypeCode::I32),
            Self::I16(_) => Marker::scalar(TypeCode::I16),
            Self::I8(_) => Marker::scalar(TypeCode::I8),
            Self::U64(_) => Marker::scalar(TypeCode::U64),
            Self::U32(_) => Marker::scalar(TypeCode::U32),
            Self::U16(_) => Marker::scalar(TypeCode::U16),
            Self::U8(_) => Marker::scalar(TypeCode::U8),
            Self::F64(_) => Marker::scalar(TypeCode::F64),
            Self::Bool(_) => Marker::scalar(TypeCode::Bool),
            Self::String(_) => Marker::scalar(TypeCode::String),
            Self::Object(_) => Marker::scalar(TypeCode::Object),
            Self::Array(array) => array.marker(),
        }
    }
}

impl<'de> EpeeObject<'de> for Section {
    fn read_fields(r: &mut Reader<'de>) -> Result<Self> {
        let count = r.read_field_count()?;
        let mut fields = Vec::with_capacity(Reader::prealloc::<(Bytes, Value)>(count));
        for _ in 0..count {
            let name = Bytes::copy_from_slice(r.read_name()?);
            let marker = r.read_marker()?;
            let value = Value::read(r, marker)?;
            fields.push((name, value));
        }
        // monerod refuses duplicate names; find them in O(n log n), not O(n^2).
        let mut names: Vec<&Bytes> = fields.iter().map(|(name, _)| name).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair.first() == pair.get(1)) {
            let name = pair
                .first()
                .map(|n| String::from_utf8_lossy(n).into_owned());
            return Err(ErrorKind::DuplicateField(name.unwrap_or_default()).into());
        }
        Ok(Self { fields })
    }

    fn write_fields<B: BufMut>(&self, w: &mut B) -> Result<()> {
        write_varint(w, self.fields.len() as u64)?;
        for (name, value) in &self.fields {
            crate::write_field(w, name, value)?;
        }
        Ok(())
    }
}

crate::impl_value_for_object!(Section);
