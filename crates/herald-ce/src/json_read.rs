//! JSON event format, reading side: borrows from the input and keeps `data` as raw JSON text.
//!
//! Parsing happens in two steps: serde collects the top-level members without interpreting them
//! (so syntax errors carry line/column), then [`build`] applies CloudEvents rules with typed errors.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::attr::{NAME_RULE, is_valid_name};
use crate::{AttrValue, CeError, Data, Event, SpecVersion, media};

/// Standard alphabet; padding optional because senders differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses one structured-mode event (JSON event format) and validates it.
pub fn from_json(bytes: &[u8]) -> Result<Event, CeError> {
    let raw: RawEvent<'_> =
        serde_json::from_slice(bytes).map_err(|e| json_error("structured event", &e))?;
    let ev = build(raw)?;
    ev.validate()?;
    Ok(ev)
}

/// Parses a batch (JSON array of events); any bad event fails the batch, naming its index.
pub fn batch_from_json(bytes: &[u8]) -> Result<Vec<Event>, CeError> {
    let raws: Vec<RawEvent<'_>> =
        serde_json::from_slice(bytes).map_err(|e| json_error("event batch", &e))?;
    raws.into_iter()
        .enumerate()
        .map(|(index, raw)| {
            build(raw)
                .and_then(|ev| ev.validate().map(|()| ev))
                .map_err(|e| CeError::InBatch {
                    index,
                    source: Box::new(e),
                })
        })
        .collect()
}

fn json_error(what: &str, e: &serde_json::Error) -> CeError {
    let full = e.to_string();
    if e.line() == 0 {
        return CeError::MalformedJson(format!("invalid JSON in {what}: {full}"));
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    CeError::MalformedJson(format!(
        "invalid JSON in {what} at line {} column {}: {msg}",
        e.line(),
        e.column()
    ))
}

/// A top-level member value, classified but not yet interpreted.
enum JVal<'de> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64.
    Big,
    Float(f64),
    Str(Cow<'de, str>),
    Array,
    Object,
    /// The `data` member, untouched.
    Raw(&'de RawValue),
}

impl JVal<'_> {
    fn kind(&self) -> &'static str {
        match self {
            JVal::Null => "null",
            JVal::Bool(_) => "a boolean",
            JVal::Int(_) | JVal::Big | JVal::Float(_) => "a number",
            JVal::Str(_) => "a string",
            JVal::Array => "an array",
            JVal::Object | JVal::Raw(_) => "an object",
        }
    }
}

struct RawEvent<'de>(Vec<(Cow<'de, str>, JVal<'de>)>);

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RawEvent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvent JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(10);
        while let Some(Key(name)) = map.next_key()? {
            let value = if name == "data" {
                JVal::Raw(map.next_value()?)
            } else {
                map.next_value()?
            };
            members.push((name, value));
        }
        Ok(RawEvent(members))
    }
}

/// A member name, borrowed unless it contained escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor).map(Key)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> Deserialize<'de> for JVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = JVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JVal::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JVal::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(JVal::Big, JVal::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(JVal::Float(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JVal::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JVal::Object)
    }
}

/// A context attribute: JSON string, or null meaning absent.
fn string_attr(name: &str, v: JVal<'_>) -> Result<Option<String>, CeError> {
    match v {
        JVal::Str(s) => Ok(Some(s.into_owned())),
        JVal::Null => Ok(None),
        other => Err(CeError::invalid(
            name,
            format!("must be a JSON string, not {}", other.kind()),
        )),
    }
}

fn ext_value(name: &str, v: JVal<'_>) -> Result<Option<AttrValue>, CeError> {
    const INT_RANGE: &str = "integer out of 32-bit range";
    Ok(Some(match v {
        JVal::Null => return Ok(None),
        JVal::Str(s) => AttrValue::String(s.into_owned()),
        JVal::Bool(b) => AttrValue::Boolean(b),
        JVal::Int(i) => AttrValue::Integer(i),
        JVal::Big => return Err(CeError::invalid(name, INT_RANGE)),
        // 3.0 is an integer written loosely; 3.5 is not an Integer at all.
        JVal::Float(f)
            if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) =>
        {
            #[allow(clippy::cast_possible_truncation)]
            AttrValue::Integer(f as i64)
        }
        JVal::Float(_) => {
            return Err(CeError::invalid(
                name,
                "must be an integer, not a fractional number",
            ));
        }
        other => {
            return Err(CeError::invalid(
                name,
                format!("must be a string, integer or boolean, not {}", other.kind()),
            ));
        }
    }))
}

fn duplicate(name: &str) -> CeError {
    CeError::invalid(name, "member appears more than once")
}

fn specversion(raw: &RawEvent<'_>) -> Result<SpecVersion, CeError> {
    let mut found = raw.0.iter().filter(|(n, _)| n == "specversion");
    let sv = match found.next() {
        None | Some((_, JVal::Null)) => return Err(CeError::MissingAttribute("specversion")),
        Some((_, JVal::Str(s))) => s.parse()?,
        Some((_, other)) => {
            return Err(CeError::invalid(
                "specversion",
                format!("must be a JSON string, not {}", other.kind()),
            ));
        }
    };
    if found.next().is_some() {
        return Err(duplicate("specversion"));
    }
    Ok(sv)
}

/// Applies the JSON event format rules to collected members.
fn build(raw: RawEvent<'_>) -> Result<Event, CeError> {
    let sv = specversion(&raw)?;
    let schema_name = sv.dataschema_name();
    let (mut id, mut source, mut ty, mut ct, mut schema, mut subject, mut time) =
        (None, None, None, None, None, None, None);
    let mut extensions = BTreeMap::new();
    let (mut data, mut data_b64, mut encoding) = (None, None, None);
    for (name, value) in raw.0 {
        let slot = match &*name {
            "specversion" => continue,
            "id" => &mut id,
            "source" => &mut source,
            "type" => &mut ty,
            "datacontenttype" => &mut ct,
            "subject" => &mut subject,
            "time" => &mut time,
            n if n == schema_name => &mut schema,
            "data" => {
                let JVal::Raw(r) = value else { continue };
                if data.replace(r).is_some() {
                    return Err(duplicate("data"));
                }
                continue;
            }
            "data_base64" if sv == SpecVersion::V10 => &mut data_b64,
            "datacontentencoding" if sv == SpecVersion::V03 => &mut encoding,
            _ => {
                extension(sv, name, value, &mut extensions)?;
                continue;
            }
        };
        if let Some(v) = string_attr(&name, value)?
            && slot.replace(v).is_some()
        {
            return Err(duplicate(&name));
        }
    }
    let data = build_data(data, data_b64, encoding, ct.as_deref())?;
    Ok(Event {
        specversion: sv,
        id: id.ok_or(CeError::MissingAttribute("id"))?,
        source: source.ok_or(CeError::MissingAttribute("source"))?,
        ty: ty.ok_or(CeError::MissingAttribute("type"))?,
        datacontenttype: ct,
        dataschema: schema,
        subject,
        time,
        extensions,
        data,
    })
}

fn extension(
    sv: SpecVersion,
    name: Cow<'_, str>,
    value: JVal<'_>,
    extensions: &mut BTreeMap<String, AttrValue>,
) -> Result<(), CeError> {
    if !is_valid_name(&name) {
        return Err(CeError::invalid(&name, NAME_RULE));
    }
    if sv.is_reserved(&name) {
        return Err(CeError::invalid(
            &name,
            "reserved name cannot be an extension",
        ));
    }
    if let Some(v) = ext_value(&name, value)? {
        let name = name.into_owned();
        if extensions.contains_key(&name) {
            return Err(duplicate(&name));
        }
        extensions.insert(name, v);
    }
    Ok(())
}

/// Chooses the [`Data`] variant from `data`, `data_base64` (1.0) and `datacontentencoding` (0.3).
fn build_data(
    data: Option<&RawValue>,
    data_b64: Option<String>,
    encoding: Option<String>,
    ct: Option<&str>,
) -> Result<Option<Data>, CeError> {
    let base64 = |name: &str, s: &str| {
        BASE64
            .decode(s)
            .map(|b| Some(Data::Binary(Bytes::from(b))))
            .map_err(|e| CeError::invalid(name, format!("invalid base64: {e}")))
    };
    if let Some(enc) = &encoding
        && !enc.eq_ignore_ascii_case("base64")
    {
        return Err(CeError::invalid(
            "datacontentencoding",
            "only \"base64\" is supported",
        ));
    }
    let data = data.filter(|r| r.get() != "null");
    match (data, data_b64) {
        (Some(_), Some(_)) => Err(CeError::invalid(
            "data_base64",
            "must not appear together with \"data\"",
        )),
        (None, Some(b64)) => base64("data_base64", &b64),
        (None, None) => Ok(None),
        (Some(raw), None) if encoding.is_some() => match unescape(raw)? {
            Some(s) => base64("data", &s),
            None => Err(CeError::invalid(
                "data",
                "must be a base64 string when datacontentencoding is set",
            )),
        },
        (Some(raw), None) if media::is_json(ct) => Ok(Some(Data::Json(raw.get().to_owned()))),
        (Some(raw), None) => Ok(Some(match unescape(raw)? {
            Some(s) => Data::Text(s),
            None => Data::Json(raw.get().to_owned()),
        })),
    }
}

/// The unescaped text if the raw value is a JSON string.
fn unescape(raw: &RawValue) -> Result<Option<String>, CeError> {
    if !raw.get().starts_with('"') {
        return Ok(None);
    }
    serde_json::from_str(raw.get())
        .map(Some)
        .map_err(|e| json_error("data", &e))
}
