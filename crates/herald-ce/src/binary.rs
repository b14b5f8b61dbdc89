//! HTTP binary content mode: attributes in `ce-*` headers, data as the body.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::attr::{NAME_RULE, is_valid_name};
use crate::{AttrValue, CeError, Data, Event, SpecVersion, pct};

const PREFIX: &str = "ce-";

/// Decodes a binary-mode message. The caller validates the result.
pub fn decode(headers: &HeaderMap, body: Bytes) -> Result<Event, CeError> {
    let specversion = specversion(headers)?;
    let schema_name = specversion.dataschema_name();
    let (mut id, mut source, mut ty, mut subject, mut time, mut dataschema, mut ce_ct) =
        (None, None, None, None, None, None, None);
    let mut extensions = BTreeMap::new();
    // `http` lower-cases header names, so `CE-ID` and `Ce-Id` both arrive as `ce-id`.
    for (name, value) in headers {
        let Some(attr) = name.as_str().strip_prefix(PREFIX) else {
            continue;
        };
        let slot = match attr {
            "specversion" => continue,
            "id" => &mut id,
            "source" => &mut source,
            "type" => &mut ty,
            "subject" => &mut subject,
            "time" => &mut time,
            "datacontenttype" => &mut ce_ct,
            // 0.3 bodies are never transfer-encoded in binary mode; the attribute means nothing here.
            "datacontentencoding" if specversion == SpecVersion::V03 => continue,
            a if a == schema_name => &mut dataschema,
            ext => {
                if !is_valid_name(ext) {
                    return Err(CeError::invalid(ext, NAME_RULE));
                }
                if specversion.is_reserved(ext) {
                    return Err(CeError::invalid(
                        ext,
                        "reserved name cannot be an extension",
                    ));
                }
                let v = decode_value(name, value)?;
                if extensions
                    .insert(ext.to_owned(), AttrValue::String(v))
                    .is_some()
                {
                    return Err(duplicate(name));
                }
                continue;
            }
        };
        let v = decode_value(name, value)?;
        if slot.replace(v).is_some() {
            return Err(duplicate(name));
        }
    }
    let datacontenttype = match headers.get(CONTENT_TYPE) {
        Some(ct) => Some(
            ct.to_str()
                .map_err(|_| CeError::header("content-type", "not visible ASCII"))?
                .to_owned(),
        ),
        None => ce_ct,
    };
    Ok(Event {
        specversion,
        id: id.ok_or(CeError::MissingAttribute("id"))?,
        source: source.ok_or(CeError::MissingAttribute("source"))?,
        ty: ty.ok_or(CeError::MissingAttribute("type"))?,
        datacontenttype,
        dataschema,
        subject,
        time,
        extensions,
        data: (!body.is_empty()).then_some(Data::Binary(body)),
    })
}

fn specversion(headers: &HeaderMap) -> Result<SpecVersion, CeError> {
    let mut all = headers.get_all("ce-specversion").iter();
    let v = all.next().ok_or(CeError::MissingAttribute("specversion"))?;
    if all.next().is_some() {
        return Err(CeError::header("ce-specversion", "duplicate header"));
    }
    let name = HeaderName::from_static("ce-specversion");
    decode_value(&name, v)?.parse()
}

fn decode_value(name: &HeaderName, value: &HeaderValue) -> Result<String, CeError> {
    pct::decode(value.as_bytes()).map_err(|e| CeError::header(name.as_str(), e.reason()))
}

fn duplicate(name: &HeaderName) -> CeError {
    CeError::header(name.as_str(), "duplicate header")
}

/// Encodes `ev` in binary mode. Values that cannot form a header at all (an extension name that is
/// not a token, a content type with non-ASCII text) are skipped; validated events have none.
pub fn encode(ev: &Event) -> (HeaderMap, Bytes) {
    let mut h = HeaderMap::with_capacity(8 + ev.extensions.len());
    put(
        &mut h,
        HeaderName::from_static("ce-specversion"),
        ev.specversion.as_str(),
    );
    put(&mut h, HeaderName::from_static("ce-id"), &ev.id);
    put(&mut h, HeaderName::from_static("ce-source"), &ev.source);
    put(&mut h, HeaderName::from_static("ce-type"), &ev.ty);
    if let Some(s) = &ev.subject {
        put(&mut h, HeaderName::from_static("ce-subject"), s);
    }
    if let Some(t) = &ev.time {
        put(&mut h, HeaderName::from_static("ce-time"), t);
    }
    if let Some(ds) = &ev.dataschema {
        let name = match ev.specversion {
            SpecVersion::V10 => HeaderName::from_static("ce-dataschema"),
            SpecVersion::V03 => HeaderName::from_static("ce-schemaurl"),
        };
        put(&mut h, name, ds);
    }
    let mut buf = String::with_capacity(24);
    for (k, v) in &ev.extensions {
        buf.clear();
        buf.push_str(PREFIX);
        buf.push_str(k);
        if let Ok(name) = HeaderName::from_bytes(buf.as_bytes()) {
            match v.as_str() {
                Some(s) => put(&mut h, name, s),
                None => put(&mut h, name, &v.to_canonical_string()),
            }
        }
    }
    if let Some(ct) = &ev.datacontenttype
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        h.insert(CONTENT_TYPE, v);
    }
    let body = match &ev.data {
        None => Bytes::new(),
        Some(Data::Binary(b)) => b.clone(),
        Some(d) => Bytes::copy_from_slice(d.as_bytes()),
    };
    (h, body)
}

/// Inserts a percent-encoded header; encoded text is always a valid header value.
fn put(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(&pct::encode(value)) {
        h.insert(name, v);
    }
}
