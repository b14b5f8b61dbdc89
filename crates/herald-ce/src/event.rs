//! The in-memory event: context attributes plus data.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{AttrValue, SpecVersion};

/// Event payload, kept in the form it arrived in so re-encoding is byte-identical.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Opaque bytes (binary-mode bodies, `data_base64`).
    Binary(Bytes),
    /// Raw JSON text exactly as received in a structured `data` member. Must be valid JSON.
    Json(String),
    /// A JSON string `data` member with a non-JSON `datacontenttype`, unescaped.
    Text(String),
}

impl Data {
    /// The bytes a binary-mode body carries for this data.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Binary(b) => b,
            Data::Json(s) | Data::Text(s) => s.as_bytes(),
        }
    }
}

/// A CloudEvent (1.0 or 0.3).
///
/// For 0.3 events `dataschema` holds `schemaurl`; codecs write it back under that name.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub specversion: SpecVersion,
    pub id: String,
    pub source: String,
    /// The `type` attribute.
    pub ty: String,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub extensions: BTreeMap<String, AttrValue>,
    pub data: Option<Data>,
}

impl Event {
    /// A 1.0 event with only the required attributes.
    pub fn new(id: impl Into<String>, source: impl Into<String>, ty: impl Into<String>) -> Self {
        Event {
            specversion: SpecVersion::V10,
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            time: None,
            extensions: BTreeMap::new(),
            data: None,
        }
    }

    /// Any context attribute by its wire name (version-aware for `dataschema`/`schemaurl`),
    /// falling back to extensions; `None` when absent.
    pub fn attribute(&self, name: &str) -> Option<AttrValue> {
        let v10 = self.specversion == SpecVersion::V10;
        let s = |v: &String| AttrValue::String(v.clone());
        match name {
            "specversion" => Some(AttrValue::String(self.specversion.as_str().to_owned())),
            "id" => Some(s(&self.id)),
            "source" => Some(AttrValue::UriRef(self.source.clone())),
            "type" => Some(s(&self.ty)),
            "datacontenttype" => self.datacontenttype.as_ref().map(s),
            "subject" => self.subject.as_ref().map(s),
            "time" => self.time.clone().map(AttrValue::Timestamp),
            "dataschema" if v10 => self.dataschema.clone().map(AttrValue::Uri),
            "schemaurl" if !v10 => self.dataschema.clone().map(AttrValue::UriRef),
            _ => self.extensions.get(name).cloned(),
        }
    }

    /// Sets (or replaces) an extension attribute. Names are checked by [`Event::validate`].
    pub fn set_extension(&mut self, name: &str, v: AttrValue) {
        self.extensions.insert(name.to_owned(), v);
    }

    /// Removes an extension attribute, returning its value.
    pub fn remove_extension(&mut self, name: &str) -> Option<AttrValue> {
        self.extensions.remove(name)
    }
}
