//! Spec conformance checks applied to every decoded event.

use crate::attr::{NAME_RULE, is_valid_name};
use crate::{AttrValue, CeError, Event, SpecVersion, rfc3339, uri};

impl Event {
    /// Checks the event against the spec: required attributes non-empty, `source` a
    /// URI-reference, `dataschema` an absolute URI (1.0; `schemaurl` a URI-reference in 0.3),
    /// `time` RFC 3339, optional attributes non-empty when present, extension names `[a-z0-9]+`
    /// and not reserved, extension values well-formed for their type (Integer within i32).
    pub fn validate(&self) -> Result<(), CeError> {
        non_empty("id", &self.id)?;
        non_empty("source", &self.source)?;
        non_empty("type", &self.ty)?;
        uri::check_uri_ref(&self.source).map_err(|r| CeError::invalid("source", r))?;
        if let Some(ct) = &self.datacontenttype {
            non_empty("datacontenttype", ct)?;
        }
        if let Some(ds) = &self.dataschema {
            let name = self.specversion.dataschema_name();
            non_empty(name, ds)?;
            let check = match self.specversion {
                SpecVersion::V10 => uri::check_absolute_uri,
                SpecVersion::V03 => uri::check_uri_ref,
            };
            check(ds).map_err(|r| CeError::invalid(name, r))?;
        }
        if let Some(subject) = &self.subject {
            non_empty("subject", subject)?;
        }
        if let Some(time) = &self.time {
            rfc3339::check(time).map_err(|r| CeError::invalid("time", r))?;
        }
        for (name, value) in &self.extensions {
            if !is_valid_name(name) {
                return Err(CeError::invalid(name, NAME_RULE));
            }
            if self.specversion.is_reserved(name) {
                return Err(CeError::invalid(
                    name,
                    "reserved name cannot be an extension",
                ));
            }
            check_value(name, value)?;
        }
        Ok(())
    }
}

fn non_empty(name: &str, v: &str) -> Result<(), CeError> {
    if v.is_empty() {
        return Err(CeError::invalid(name, "must not be empty"));
    }
    Ok(())
}

/// Type-specific checks for an extension value.
pub(crate) fn check_value(name: &str, value: &AttrValue) -> Result<(), CeError> {
    let res = match value {
        AttrValue::Integer(i) if i32::try_from(*i).is_err() => Err("integer out of 32-bit range"),
        AttrValue::Uri(u) => uri::check_absolute_uri(u),
        AttrValue::UriRef(u) => uri::check_uri_ref(u),
        AttrValue::Timestamp(t) => rfc3339::check(t),
        _ => Ok(()),
    };
    res.map_err(|r| CeError::invalid(name, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Event {
        let mut e = Event::new("1", "/src", "t");
        e.time = Some("2020-01-01T00:00:00Z".into());
        e
    }

    #[test]
    fn validation_table() {
        type Edit = fn(&mut Event);
        let cases: &[(&str, Edit, Option<&str>)] = &[
            ("ok", |_| {}, None),
            ("empty id", |e| e.id.clear(), Some("id")),
            ("empty source", |e| e.source.clear(), Some("source")),
            ("empty type", |e| e.ty.clear(), Some("type")),
            ("bad source", |e| e.source = "a b".into(), Some("source")),
            (
                "empty ct",
                |e| e.datacontenttype = Some(String::new()),
                Some("datacontenttype"),
            ),
            (
                "relative schema",
                |e| e.dataschema = Some("/s".into()),
                Some("dataschema"),
            ),
            (
                "abs schema",
                |e| e.dataschema = Some("https://s/x".into()),
                None,
            ),
            (
                "03 relative schemaurl",
                |e| {
                    e.specversion = SpecVersion::V03;
                    e.dataschema = Some("/s".into());
                },
                None,
            ),
            (
                "03 bad schemaurl",
                |e| {
                    e.specversion = SpecVersion::V03;
                    e.dataschema = Some("a b".into());
                },
                Some("schemaurl"),
            ),
            (
                "empty subject",
                |e| e.subject = Some(String::new()),
                Some("subject"),
            ),
            (
                "bad time",
                |e| e.time = Some("yesterday".into()),
                Some("time"),
            ),
            (
                "ext name upper",
                |e| e.set_extension("Ab", AttrValue::Boolean(true)),
                Some("Ab"),
            ),
            (
                "ext name reserved",
                |e| e.set_extension("data", AttrValue::Boolean(true)),
                Some("data"),
            ),
            (
                "ext dataschema in 0.3 ok",
                |e| {
                    e.specversion = SpecVersion::V03;
                    e.set_extension("dataschema", AttrValue::String("x".into()));
                },
                None,
            ),
            (
                "ext int max",
                |e| e.set_extension("n", AttrValue::Integer(i64::from(i32::MAX))),
                None,
            ),
            (
                "ext int min",
                |e| e.set_extension("n", AttrValue::Integer(i64::from(i32::MIN))),
                None,
            ),
            (
                "ext int big",
                |e| e.set_extension("n", AttrValue::Integer(1 << 31)),
                Some("n"),
            ),
            (
                "ext uri",
                |e| e.set_extension("u", AttrValue::Uri("/rel".into())),
                Some("u"),
            ),
            (
                "ext uriref",
                |e| e.set_extension("u", AttrValue::UriRef("a b".into())),
                Some("u"),
            ),
            (
                "ext ts",
                |e| e.set_extension("t", AttrValue::Timestamp("x".into())),
                Some("t"),
            ),
            (
                "ext empty string ok",
                |e| e.set_extension("s", AttrValue::String(String::new())),
                None,
            ),
        ];
        for (what, edit, bad) in cases {
            let mut e = base();
            edit(&mut e);
            match (e.validate(), bad) {
                (Ok(()), None) => {}
                (Err(CeError::InvalidAttribute { name, .. }), Some(want)) => {
                    assert_eq!(name, *want, "{what}")
                }
                (got, _) => panic!("{what}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn attribute_lookup() {
        let mut e = base();
        e.dataschema = Some("https://s".into());
        e.set_extension("n", AttrValue::Integer(3));
        let cases = [
            ("specversion", Some(AttrValue::String("1.0".into()))),
            ("id", Some(AttrValue::String("1".into()))),
            ("source", Some(AttrValue::UriRef("/src".into()))),
            ("type", Some(AttrValue::String("t".into()))),
            (
                "time",
                Some(AttrValue::Timestamp("2020-01-01T00:00:00Z".into())),
            ),
            ("dataschema", Some(AttrValue::Uri("https://s".into()))),
            ("schemaurl", None),
            ("subject", None),
            ("n", Some(AttrValue::Integer(3))),
            ("missing", None),
        ];
        for (name, want) in &cases {
            assert_eq!(&e.attribute(name), want, "{name}");
        }
        e.specversion = SpecVersion::V03;
        assert_eq!(
            e.attribute("schemaurl"),
            Some(AttrValue::UriRef("https://s".into()))
        );
        assert_eq!(e.attribute("dataschema"), None);
        assert_eq!(e.remove_extension("n"), Some(AttrValue::Integer(3)));
        assert_eq!(e.attribute("n"), None);
    }
}
