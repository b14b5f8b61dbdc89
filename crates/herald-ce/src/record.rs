//! Compact binary record for Herald's event log.
//!
//! Layout (version 1): `[1] [specversion] str(id) str(source) str(type) [presence bits]`
//! then present optional strings, `varint(#ext)` and `(str(name) [tag] value)*`, then `[data tag]`
//! and, if any, `bytes(data)`. `str`/`bytes` are a LEB128 length followed by the bytes. Every event
//! round-trips exactly, valid or not; decoding never trusts a length it cannot see.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{AttrValue, CeError, Data, Event, SpecVersion};

const FORMAT_V1: u8 = 1;

mod tag {
    pub const STRING: u8 = 0;
    pub const INTEGER: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const BINARY: u8 = 3;
    pub const URI: u8 = 4;
    pub const URI_REF: u8 = 5;
    pub const TIMESTAMP: u8 = 6;

    pub const NO_DATA: u8 = 0;
    pub const DATA_BINARY: u8 = 1;
    pub const DATA_JSON: u8 = 2;
    pub const DATA_TEXT: u8 = 3;
}

/// Appends the record for `ev` to `out`.
pub fn encode_record(ev: &Event, out: &mut Vec<u8>) {
    let data_len = ev.data.as_ref().map_or(0, |d| d.as_bytes().len());
    out.reserve(64 + ev.id.len() + ev.source.len() + ev.ty.len() + data_len);
    out.push(FORMAT_V1);
    out.push(match ev.specversion {
        SpecVersion::V03 => 0,
        SpecVersion::V10 => 1,
    });
    put_bytes(out, ev.id.as_bytes());
    put_bytes(out, ev.source.as_bytes());
    put_bytes(out, ev.ty.as_bytes());
    let optional = [&ev.datacontenttype, &ev.dataschema, &ev.subject, &ev.time];
    let bits = optional
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, o)| acc | (u8::from(o.is_some()) << i));
    out.push(bits);
    for s in optional.into_iter().flatten() {
        put_bytes(out, s.as_bytes());
    }
    put_varint(out, ev.extensions.len() as u64);
    for (name, v) in &ev.extensions {
        put_bytes(out, name.as_bytes());
        match v {
            AttrValue::String(s) => put_tagged(out, tag::STRING, s.as_bytes()),
            AttrValue::Uri(s) => put_tagged(out, tag::URI, s.as_bytes()),
            AttrValue::UriRef(s) => put_tagged(out, tag::URI_REF, s.as_bytes()),
            AttrValue::Timestamp(s) => put_tagged(out, tag::TIMESTAMP, s.as_bytes()),
            AttrValue::Binary(b) => put_tagged(out, tag::BINARY, b),
            AttrValue::Integer(i) => {
                out.push(tag::INTEGER);
                out.extend_from_slice(&i.to_le_bytes());
            }
            AttrValue::Boolean(b) => {
                out.push(tag::BOOLEAN);
                out.push(u8::from(*b));
            }
        }
    }
    match &ev.data {
        None => out.push(tag::NO_DATA),
        Some(Data::Binary(b)) => put_tagged(out, tag::DATA_BINARY, b),
        Some(Data::Json(s)) => put_tagged(out, tag::DATA_JSON, s.as_bytes()),
        Some(Data::Text(s)) => put_tagged(out, tag::DATA_TEXT, s.as_bytes()),
    }
}

fn put_tagged(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    put_bytes(out, b);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a record written by [`encode_record`]. Truncated, trailing or garbage input is an error.
pub fn decode_record(bytes: &[u8]) -> Result<Event, CeError> {
    let mut r = Reader { buf: bytes };
    match r.byte()? {
        FORMAT_V1 => {}
        v => {
            return Err(CeError::Record(format!(
                "unknown record format version {v}"
            )));
        }
    }
    let specversion = match r.byte()? {
        0 => SpecVersion::V03,
        1 => SpecVersion::V10,
        v => return Err(CeError::Record(format!("unknown specversion code {v}"))),
    };
    let id = r.string()?;
    let source = r.string()?;
    let ty = r.string()?;
    let bits = r.byte()?;
    if bits & !0x0f != 0 {
        return Err(CeError::Record(format!(
            "unknown presence bits {bits:#04x}"
        )));
    }
    let mut opt = |i: u8| -> Result<Option<String>, CeError> {
        if bits & (1 << i) == 0 {
            Ok(None)
        } else {
            r.string().map(Some)
        }
    };
    let (datacontenttype, dataschema, subject, time) = (opt(0)?, opt(1)?, opt(2)?, opt(3)?);
    let count = r.varint()?;
    let mut extensions = BTreeMap::new();
    for _ in 0..count {
        let name = r.string()?;
        let value = match r.byte()? {
            tag::STRING => AttrValue::String(r.string()?),
            tag::URI => AttrValue::Uri(r.string()?),
            tag::URI_REF => AttrValue::UriRef(r.string()?),
            tag::TIMESTAMP => AttrValue::Timestamp(r.string()?),
            tag::BINARY => AttrValue::Binary(r.bytes()?.to_vec()),
            tag::INTEGER => {
                let raw = r.take(8)?;
                let mut le = [0u8; 8];
                le.copy_from_slice(raw);
                AttrValue::Integer(i64::from_le_bytes(le))
            }
            tag::BOOLEAN => match r.byte()? {
                0 => AttrValue::Boolean(false),
                1 => AttrValue::Boolean(true),
                b => return Err(CeError::Record(format!("invalid boolean byte {b}"))),
            },
            t => return Err(CeError::Record(format!("unknown attribute type tag {t}"))),
        };
        if extensions.insert(name, value).is_some() {
            return Err(CeError::Record("duplicate extension".to_owned()));
        }
    }
    let data = match r.byte()? {
        tag::NO_DATA => None,
        tag::DATA_BINARY => Some(Data::Binary(Bytes::copy_from_slice(r.bytes()?))),
        tag::DATA_JSON => Some(Data::Json(r.string()?)),
        tag::DATA_TEXT => Some(Data::Text(r.string()?)),
        t => return Err(CeError::Record(format!("unknown data tag {t}"))),
    };
    if !r.buf.is_empty() {
        return Err(CeError::Record(format!("{} trailing bytes", r.buf.len())));
    }
    Ok(Event {
        specversion,
        id,
        source,
        ty,
        datacontenttype,
        dataschema,
        subject,
        time,
        extensions,
        data,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn truncated() -> CeError {
        CeError::Record("truncated".to_owned())
    }

    fn byte(&mut self) -> Result<u8, CeError> {
        let (&b, rest) = self.buf.split_first().ok_or_else(Self::truncated)?;
        self.buf = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CeError> {
        if n > self.buf.len() {
            return Err(Self::truncated());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, CeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CeError::Record("varint too long".to_owned()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| Self::truncated())?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, CeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| CeError::Record("string is not UTF-8".to_owned()))
    }
}
