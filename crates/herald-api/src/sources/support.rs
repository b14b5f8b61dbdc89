//! Helpers shared by the source kinds: the legacy `sources.eventing.knative.dev/v1alpha1`
//! shapes (corev1 `ObjectReference` sinks, secret selectors), field-level conversion with
//! annotation stashes, and small syntax checks (base64, Go durations, label selectors).
//!
//! Conversions work on JSON so that nothing unknown is lost: a [`Conv`] moves the fields both
//! versions share, transforms the ones that changed shape, and keeps every field the target
//! version cannot hold in an annotation, restoring it on the way back:
//!
//! * `herald.dev/v1alpha1-<field>`: a legacy field with no current equivalent, kept on the
//!   stored object (for example CronJobSource `resources`).
//! * `herald.dev/v1-<field>`: a current field a legacy version cannot show, kept on the legacy
//!   view (for example PingSource `timezone` read through CronJobSource).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::field::{FieldError, FieldErrors};
use crate::meta::{CloudEventOverrides, Destination};
use crate::registry::{PrinterColumn, set_type};
use crate::validation::{validate_ce_overrides, validate_destination};

pub use k8s_openapi::api::core::v1::SecretKeySelector;

/// Categories of every source kind (`kubectl get sources`).
pub const CATEGORIES: &[&str] = &["all", "knative", "sources"];

/// The current sources group.
pub const GROUP: &str = "sources.knative.dev";
/// The legacy (pre-0.10) sources group the seeds use.
pub const LEGACY_GROUP: &str = "sources.eventing.knative.dev";

/// Prefix of annotations holding legacy-only fields on stored objects.
pub const LEGACY_STASH_PREFIX: &str = "herald.dev/v1alpha1-";
/// Prefix of annotations holding current-only fields on legacy views.
pub const STORAGE_STASH_PREFIX: &str = "herald.dev/v1-";

/// The `Sink` column (`.status.sinkUri`).
pub const SINK_COLUMN: PrinterColumn = PrinterColumn {
    name: "Sink",
    type_: "string",
    json_path: ".status.sinkUri",
    priority: 0,
    description: "The resolved URI of the sink",
};

/// A legacy sink: a corev1 `ObjectReference` to an Addressable (only the fields Knative read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the referent; defaults to the source's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A value read from a Secret (`SecretValueFromSource` of the GitHub/GitLab sources).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueFromSource {
    /// The Secret key to select from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// Validates a secret key selector: name and key are required.
pub fn validate_secret_key_selector(s: &SecretKeySelector) -> FieldErrors {
    let mut errs = FieldErrors::new();
    if s.name.is_empty() {
        errs.push(FieldError::required("name"));
    }
    if s.key.is_empty() {
        errs.push(FieldError::required("key"));
    }
    errs
}

/// Validates a required `secretKeyRef` holder at `path` (`spec.accessToken`).
pub fn validate_secret_value(errs: &mut FieldErrors, path: &str, v: &SecretValueFromSource) {
    match &v.secret_key_ref {
        None => errs.push(FieldError::required(format!("{path}.secretKeyRef"))),
        Some(s) => errs.extend_at(
            &format!("{path}.secretKeyRef"),
            validate_secret_key_selector(s),
        ),
    }
}

/// Validates the duck `SourceSpec` fields: a required `spec.sink` and optional
/// `spec.ceOverrides`.
pub fn validate_source_spec(
    errs: &mut FieldErrors,
    sink: &Destination,
    ce: Option<&CloudEventOverrides>,
) {
    errs.extend_at("spec.sink", validate_destination(sink));
    if let Some(ce) = ce {
        errs.extend_at("spec.ceOverrides", validate_ce_overrides(ce));
    }
}

/// Defaults `sink.ref.namespace` to the source's namespace, as Knative's resolver does.
pub fn default_sink_namespace(sink: &mut Destination, ns: &str) {
    if let Some(r) = &mut sink.ref_
        && r.namespace.as_deref().unwrap_or("").is_empty()
        && !ns.is_empty()
    {
        r.namespace = Some(ns.to_string());
    }
}

/// An immutability error at `path` when `old != new`.
pub fn check_immutable<T: PartialEq>(errs: &mut FieldErrors, path: &str, old: &T, new: &T) {
    if old != new {
        errs.push(FieldError::immutable(path));
    }
}

/// True when `s` is standard padded base64 (Go's `base64.StdEncoding`).
pub fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// True for a Go `time.ParseDuration` string (`300ms`, `1h30m`, `1.5h`), positive only.
pub fn is_go_duration(s: &str) -> bool {
    parse_go_duration(s).is_some()
}

/// Parses a Go `time.ParseDuration` string (no sign) into seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0.0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let (unit, scale) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .into_iter()
        .filter(|(u, _)| rest.starts_with(u))
        .max_by_key(|(u, _)| u.len())?;
        rest = &rest[unit.len()..];
        total += n * scale;
    }
    Some(total)
}

/// True for a Kubernetes qualified name (`prefix/name`, label keys).
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && !crate::validation::is_dns1123_subdomain(p)
    {
        return false;
    }
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// True for a Kubernetes label value (empty allowed).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Validates a `metav1.LabelSelector` (keys, values, operators), paths relative to it.
pub fn validate_label_selector(sel: &LabelSelector) -> FieldErrors {
    let mut errs = FieldErrors::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_qualified_name(k) {
            errs.push(FieldError::invalid(
                format!("matchLabels.{k}"),
                format!("invalid label key {k:?}"),
            ));
        }
        if !is_label_value(v) {
            errs.push(FieldError::invalid(
                format!("matchLabels.{k}"),
                format!("invalid label value {v:?}"),
            ));
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let p = format!("matchExpressions[{i}]");
        if !is_qualified_name(&e.key) {
            errs.push(FieldError::invalid(
                format!("{p}.key"),
                format!("invalid label key {:?}", e.key),
            ));
        }
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(format!("{p}.values")));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{p}.operator"),
                other,
                &["In", "NotIn", "Exists", "DoesNotExist"],
            )),
        }
        for (j, v) in values.iter().enumerate() {
            if !is_label_value(v) {
                errs.push(FieldError::invalid(
                    format!("{p}.values[{j}]"),
                    format!("invalid label value {v:?}"),
                ));
            }
        }
    }
    errs
}

fn conv_err(path: &str, msg: impl Into<String>) -> FieldErrors {
    FieldErrors::from(FieldError::new(
        path,
        crate::field::FieldReason::TypeInvalid,
        msg,
    ))
}

/// Decodes a JSON value found at `path` during a conversion.
pub fn decode_at<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Result<T, FieldErrors> {
    crate::registry::decode(&v).map_err(|e| {
        let mut out = FieldErrors::new();
        out.extend_at(path, e);
        out
    })
}

/// Encodes a value during a conversion.
pub fn to_value<T: Serialize>(t: &T) -> Result<Value, FieldErrors> {
    crate::registry::encode(t)
}

/// A conversion of one whole object between two spec shapes.
///
/// `from` holds the source spec fields not yet consumed; `to` the target spec being built.
pub struct Conv {
    obj: Value,
    /// Remaining fields of the source spec.
    pub from: Map<String, Value>,
    /// The target spec.
    pub to: Map<String, Value>,
}

impl Conv {
    /// Starts a conversion of `obj` (its `spec` must be an object, or absent/null).
    pub fn new(mut obj: Value) -> Result<Self, FieldErrors> {
        let Some(root) = obj.as_object_mut() else {
            return Err(conv_err("", "expected an object"));
        };
        let from = match root.remove("spec") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(conv_err("spec", "expected an object")),
        };
        Ok(Conv {
            obj,
            from,
            to: Map::new(),
        })
    }

    /// Takes a source field (null counts as absent).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.from.remove(key).filter(|v| !v.is_null())
    }

    /// Takes a source string field; a non-string is a type error at `spec.<key>`.
    pub fn take_str(&mut self, key: &str) -> Result<Option<String>, FieldErrors> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(conv_err(&format!("spec.{key}"), "expected a string")),
        }
    }

    /// Sets a target field.
    pub fn put(&mut self, key: &str, v: Value) {
        self.to.insert(key.to_string(), v);
    }

    /// Moves fields unchanged (same name, same shape).
    pub fn keep(&mut self, keys: &[&str]) {
        for k in keys {
            if let Some(v) = self.take(k) {
                self.to.insert((*k).to_string(), v);
            }
        }
    }

    /// Moves a field under a new name.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(v) = self.take(from) {
            self.to.insert(to.to_string(), v);
        }
    }

    /// The object's annotations (created on demand).
    fn annotations_mut(&mut self) -> Option<&mut Map<String, Value>> {
        let root = self.obj.as_object_mut()?;
        let meta = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            return None;
        }
        let meta = meta.as_object_mut()?;
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        ann.as_object_mut()
    }

    /// Keeps `v` as JSON in annotation `key`.
    pub fn stash(&mut self, key: &str, v: &Value) {
        let text = v.to_string();
        if let Some(a) = self.annotations_mut() {
            a.insert(key.to_string(), Value::String(text));
        }
    }

    /// Removes annotation `key` and returns its JSON value (a non-JSON value is dropped).
    pub fn unstash(&mut self, key: &str) -> Option<Value> {
        let a = self.annotations_mut()?;
        let v = a.remove(key)?;
        v.as_str().and_then(|s| serde_json::from_str(s).ok())
    }

    /// Stashes every remaining source field under `prefix<field>`.
    pub fn stash_rest(&mut self, prefix: &str) {
        let rest = std::mem::take(&mut self.from);
        for (k, v) in rest {
            if !v.is_null() {
                self.stash(&format!("{prefix}{k}"), &v);
            }
        }
    }

    /// Restores every `prefix<field>` annotation into the target spec (fields the source
    /// already set win) and removes the annotations.
    pub fn restore(&mut self, prefix: &str) {
        let keys: Vec<String> = match self.annotations_mut() {
            Some(a) => a
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect(),
            None => return,
        };
        for key in keys {
            let field = key[prefix.len()..].to_string();
            if let Some(v) = self.unstash(&key)
                && !self.to.contains_key(&field)
            {
                self.to.insert(field, v);
            }
        }
    }

    /// Finishes: puts the target spec back, drops an emptied annotation map, sets the type.
    pub fn finish(mut self, api_version: &str, kind: &str) -> Value {
        let spec = std::mem::take(&mut self.to);
        if let Some(root) = self.obj.as_object_mut() {
            root.insert("spec".into(), Value::Object(spec));
            if let Some(Value::Object(meta)) = root.get_mut("metadata")
                && meta
                    .get("annotations")
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
            {
                meta.remove("annotations");
            }
        }
        set_type(self.obj, api_version, kind)
    }

    /// Legacy -> current sink: `sink` (ObjectReference) becomes `sink.ref`. A current sink the
    /// legacy view could not show completely (uri, CACerts, audience) was stashed under
    /// `herald.dev/v1-sink`; it is used again when its ref still matches.
    pub fn sink_up(&mut self) -> Result<(), FieldErrors> {
        let stashed = self.unstash(&format!("{STORAGE_STASH_PREFIX}sink"));
        let legacy = match self.take("sink") {
            Some(v) => Some(decode_at::<ObjectReference>("spec.sink", v)?),
            None => None,
        };
        let dest = match legacy {
            Some(r) => {
                let kref = crate::meta::KReference {
                    kind: r.kind,
                    namespace: r.namespace,
                    name: r.name,
                    api_version: r.api_version,
                    group: None,
                };
                match stashed
                    .and_then(|s| serde_json::from_value::<Destination>(s).ok())
                    .filter(|d| d.ref_.as_ref() == Some(&kref))
                {
                    Some(d) => d,
                    None => Destination {
                        ref_: Some(kref),
                        ..Default::default()
                    },
                }
            }
            None => match stashed.and_then(|s| serde_json::from_value::<Destination>(s).ok()) {
                Some(d) if d.ref_.is_none() => d,
                _ => return Ok(()),
            },
        };
        self.put("sink", to_value(&dest)?);
        Ok(())
    }

    /// Current -> legacy sink: `sink.ref` becomes the ObjectReference; anything else is
    /// stashed under `herald.dev/v1-sink`.
    pub fn sink_down(&mut self) -> Result<(), FieldErrors> {
        let Some(v) = self.take("sink") else {
            return Ok(());
        };
        let d: Destination = decode_at("spec.sink", v)?;
        if let Some(r) = &d.ref_ {
            let legacy = ObjectReference {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                namespace: r.namespace.clone(),
            };
            self.put("sink", to_value(&legacy)?);
        }
        let plain_ref = d.uri.is_none()
            && d.ca_certs.is_none()
            && d.audience.is_none()
            && d.ref_.as_ref().is_some_and(|r| r.group.is_none());
        if !plain_ref {
            self.stash(&format!("{STORAGE_STASH_PREFIX}sink"), &to_value(&d)?);
        }
        Ok(())
    }
}

/// Legacy -> current conversion of a kind whose only change is the sink (plus renamed
/// fields `(legacy, current)`); `shared` fields are moved unchanged.
pub fn simple_up(
    v: Value,
    shared: &[&str],
    renames: &[(&str, &str)],
    api_version: &str,
    kind: &str,
) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    c.keep(shared);
    for (legacy, current) in renames {
        c.rename(legacy, current);
    }
    c.restore(STORAGE_STASH_PREFIX);
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(api_version, kind))
}

/// The inverse of [`simple_up`].
pub fn simple_down(
    v: Value,
    shared: &[&str],
    renames: &[(&str, &str)],
    api_version: &str,
    kind: &str,
) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    c.keep(shared);
    for (legacy, current) in renames {
        c.rename(current, legacy);
    }
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(api_version, kind))
}

/// Splits a comma-separated legacy list (`a, b,c`) into its trimmed, non-empty items.
pub fn split_csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
pub(crate) mod test_util {
    use serde_json::Value;

    use crate::field::FieldErrors;
    use crate::registry::{Ctx, NoConfig, Resource};

    /// Runs a resource's defaulting and validation (create) on a storage-form object.
    pub fn admit(r: &Resource, mut obj: Value) -> Result<Value, FieldErrors> {
        let ctx = Ctx { config: &NoConfig };
        r.hooks.default(&mut obj, &ctx)?;
        r.hooks.validate(&obj, None, &ctx)?;
        Ok(obj)
    }

    /// Validates an update.
    pub fn update(r: &Resource, old: &Value, new: Value) -> Result<(), FieldErrors> {
        let ctx = Ctx { config: &NoConfig };
        let mut new = new;
        r.hooks.default(&mut new, &ctx)?;
        r.hooks.validate(&new, Some(old), &ctx)
    }

    /// Table test of validation: each case merges its fields into `sample`'s spec (a null
    /// removes the field) and expects exactly these error paths.
    pub fn check_cases(r: &Resource, sample: &Value, cases: &[(&str, Value, &[&str])]) {
        for (name, patch, want) in cases {
            let mut obj = sample.clone();
            if let (Some(spec), Some(p)) = (obj["spec"].as_object_mut(), patch.as_object()) {
                for (k, v) in p {
                    if v.is_null() {
                        spec.remove(k);
                    } else {
                        spec.insert(k.clone(), v.clone());
                    }
                }
            }
            let got = match admit(r, obj) {
                Ok(_) => vec![],
                Err(e) => paths(&e),
            };
            assert_eq!(got, *want, "{name}");
        }
    }

    /// Removes `spec.<field>`.
    pub fn unset(obj: &mut Value, field: &str) {
        if let Some(m) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            m.remove(field);
        }
    }

    /// The paths of the errors.
    pub fn paths(e: &FieldErrors) -> Vec<String> {
        e.0.iter().map(|e| e.path.clone()).collect()
    }

    /// Finds a served version by apiVersion and kind.
    pub fn served<'a>(
        r: &'a Resource,
        api_version: &str,
        kind: &str,
    ) -> &'a crate::registry::ServedVersion {
        r.versions
            .iter()
            .find(|v| v.api_version() == api_version && v.kind == kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} not served"))
    }

    /// Converts a legacy object up and back down; returns (storage, legacy again).
    pub fn round_trip(r: &Resource, api_version: &str, kind: &str, obj: Value) -> (Value, Value) {
        let v = served(r, api_version, kind);
        let stored = (v.to_storage)(obj).unwrap_or_else(|e| panic!("to_storage: {e}"));
        let back = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("from_storage: {e}"));
        (stored, back)
    }

    /// Common checks on a resource: categories, schemas without `$ref`, Age/Ready/Reason
    /// columns, the storage version first.
    pub fn check_resource(r: &Resource) {
        assert_eq!(r.versions[0].group, r.group);
        assert_eq!(r.versions[0].kind, r.kind);
        assert_eq!(r.versions[0].plural, r.plural);
        for v in &r.versions {
            assert_eq!(v.categories, super::CATEGORIES, "{}", v.kind);
            let s = (v.schema)();
            assert!(
                !s.to_string().contains("$ref"),
                "{} {}",
                v.api_version(),
                v.kind
            );
            assert!(s.pointer("/properties/spec").is_some(), "{}", v.kind);
            assert!(s.pointer("/properties/status").is_some(), "{}", v.kind);
            let names: Vec<&str> = v.columns.iter().map(|c| c.name).collect();
            for c in ["Ready", "Reason", "Age"] {
                assert!(names.contains(&c), "{} lacks column {c}", v.kind);
            }
        }
        // Conversions of an empty object work for every version.
        for v in &r.versions {
            let obj = serde_json::json!({"metadata": {"name": "x", "namespace": "default"}});
            let stored = (v.to_storage)(obj).unwrap_or_else(|e| panic!("{}: {e}", v.kind));
            assert_eq!(stored["kind"], Value::String(r.kind.into()));
            let back = (v.from_storage)(stored).unwrap_or_else(|e| panic!("{}: {e}", v.kind));
            assert_eq!(back["kind"], Value::String(v.kind.into()));
        }
    }
}
