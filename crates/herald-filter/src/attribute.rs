//! Attribute lookup with Knative's existence rules.

use std::borrow::Cow;

use herald_ce::Event;

/// The value of attribute `name` as its canonical string, or `None` if it does not exist.
///
/// As in Knative's `LookupAttribute`, the standard context attributes always exist (a missing
/// optional one reads as `""`), while an extension exists only when the event carries it.
pub fn lookup<'e>(event: &'e Event, name: &str) -> Option<Cow<'e, str>> {
    let opt = |v: &'e Option<String>| Some(Cow::Borrowed(v.as_deref().unwrap_or("")));
    match name {
        "specversion" => Some(Cow::Borrowed(event.specversion.as_str())),
        "id" => Some(Cow::Borrowed(event.id.as_str())),
        "source" => Some(Cow::Borrowed(event.source.as_str())),
        "type" => Some(Cow::Borrowed(event.ty.as_str())),
        "subject" => opt(&event.subject),
        "time" => opt(&event.time),
        "dataschema" | "schemaurl" => opt(&event.dataschema),
        "datacontenttype" | "datamediatype" => opt(&event.datacontenttype),
        "datacontentencoding" => Some(Cow::Borrowed("")),
        // Text-valued extensions are borrowed: no allocation per filter evaluation.
        _ => event.extensions.get(name).map(|v| match v.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(v.to_canonical_string()),
        }),
    }
}
