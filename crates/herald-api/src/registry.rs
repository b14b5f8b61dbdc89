//! The registry of every resource Herald serves.
//!
//! A [`Resource`] is one stored collection (like an etcd prefix). It is stored in one version
//! (its storage version, the hub) and served under one or more group/version/kind endpoints
//! ([`ServedVersion`]); older versions and older groups (the seeds' `v1alpha1` kinds) convert
//! to and from the storage form, as CRD conversion webhooks would.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::field::{FieldError, FieldErrors, FieldReason};

/// One `kubectl get` column (CRD `additionalPrinterColumns`). `json_path` is a simple
/// JSONPath such as `.status.address.url`, `.metadata.annotations.eventing\.knative\.dev/broker\.class`
/// or `.status.conditions[?(@.type=="Ready")].status`.
#[derive(Debug, Clone, Copy)]
pub struct PrinterColumn {
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: &'static str,
    pub json_path: &'static str,
    /// 0 = shown by default, 1 = only with `-o wide`.
    pub priority: i32,
    pub description: &'static str,
}

/// The Ready/Reason columns every Knative kind prints.
pub const READY_COLUMN: PrinterColumn = PrinterColumn {
    name: "Ready",
    type_: "string",
    json_path: ".status.conditions[?(@.type==\"Ready\")].status",
    priority: 0,
    description: "",
};
pub const REASON_COLUMN: PrinterColumn = PrinterColumn {
    name: "Reason",
    type_: "string",
    json_path: ".status.conditions[?(@.type==\"Ready\")].reason",
    priority: 0,
    description: "",
};
pub const AGE_COLUMN: PrinterColumn = PrinterColumn {
    name: "Age",
    type_: "date",
    json_path: ".metadata.creationTimestamp",
    priority: 0,
    description: "",
};

/// Converts a whole object (as JSON) between a served version and the storage version.
pub type ConvertFn = fn(Value) -> Result<Value, FieldErrors>;

/// One group/version/kind endpoint of a resource.
#[derive(Clone)]
pub struct ServedVersion {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub columns: &'static [PrinterColumn],
    /// A deprecation warning, sent as a `Warning` header when this version is used.
    pub deprecated: Option<&'static str>,
    /// Structural OpenAPI v3 schema of the whole object in this version.
    pub schema: fn() -> Value,
    /// From this version to the storage version (sets storage apiVersion/kind).
    pub to_storage: ConvertFn,
    /// From the storage version to this version (sets this apiVersion/kind).
    pub from_storage: ConvertFn,
}

impl ServedVersion {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }
}

/// Formats an apiVersion: `v1` for the core group, else `group/version`.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits an apiVersion into (group, version).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Reads ConfigMaps (`config-br-defaults`, `config-features`, …) while defaulting/validating.
pub trait ConfigLookup {
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>>;
}

/// A lookup that finds nothing (built-in defaults only).
pub struct NoConfig;
impl ConfigLookup for NoConfig {
    fn config_map(&self, _: &str, _: &str) -> Option<BTreeMap<String, String>> {
        None
    }
}

/// Context for defaulting and validation.
pub struct Ctx<'a> {
    pub config: &'a dyn ConfigLookup,
}

/// Defaulting and validation of a resource in its storage form.
pub trait KindHooks: Send + Sync {
    /// Fills defaults (webhook defaulting). `obj` is in storage form.
    fn default(&self, obj: &mut Value, ctx: &Ctx) -> Result<(), FieldErrors>;
    /// Validates a create (`old == None`) or an update (immutable fields).
    fn validate(&self, obj: &Value, old: Option<&Value>, ctx: &Ctx) -> Result<(), FieldErrors>;
}

/// A typed kind: its storage struct plus defaulting and validation.
pub trait Kind: Serialize + DeserializeOwned + Send + Sync + 'static {
    fn set_defaults(&mut self, _ctx: &Ctx) {}
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        FieldErrors::new()
    }
    /// Immutability rules on update.
    fn validate_update(&self, _old: &Self, _ctx: &Ctx) -> FieldErrors {
        FieldErrors::new()
    }
}

/// Adapts a typed [`Kind`] to [`KindHooks`] on JSON.
pub struct Typed<K>(PhantomData<fn() -> K>);

impl<K> Typed<K> {
    pub const fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<K> Default for Typed<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes JSON into a typed value, reporting a type mismatch at its field path.
pub fn decode<T: DeserializeOwned>(v: &Value) -> Result<T, FieldErrors> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        FieldErrors::from(FieldError::new(
            path,
            FieldReason::TypeInvalid,
            e.inner().to_string(),
        ))
    })
}

/// Encodes a typed value as JSON.
pub fn encode<T: Serialize>(t: &T) -> Result<Value, FieldErrors> {
    serde_json::to_value(t).map_err(|e| FieldErrors::from(FieldError::invalid("", e.to_string())))
}

impl<K: Kind> KindHooks for Typed<K> {
    fn default(&self, obj: &mut Value, ctx: &Ctx) -> Result<(), FieldErrors> {
        let mut k: K = decode(obj)?;
        k.set_defaults(ctx);
        *obj = encode(&k)?;
        Ok(())
    }
    fn validate(&self, obj: &Value, old: Option<&Value>, ctx: &Ctx) -> Result<(), FieldErrors> {
        let k: K = decode(obj)?;
        let mut errs = k.validate(ctx);
        if let Some(Ok(old)) = old.map(decode::<K>) {
            errs.extend(k.validate_update(&old, ctx));
        }
        errs.into_result()
    }
}

/// One stored collection and every endpoint that serves it.
pub struct Resource {
    /// Storage group (`""` for core).
    pub group: &'static str,
    /// Storage plural, e.g. `brokers`.
    pub plural: &'static str,
    /// Storage kind, e.g. `Broker`.
    pub kind: &'static str,
    pub namespaced: bool,
    /// Whether `status` is a subresource (main-resource writes keep the stored status).
    pub has_status: bool,
    /// Values must never be printed (Secrets).
    pub sensitive: bool,
    /// Every served endpoint; the first is the storage version.
    pub versions: Vec<ServedVersion>,
    pub hooks: Box<dyn KindHooks>,
}

impl Resource {
    /// The storage version endpoint.
    pub fn storage(&self) -> &ServedVersion {
        &self.versions[0]
    }
    /// A stable identity used as the store's key prefix: `group/plural` (`core/…` for core).
    pub fn key(&self) -> String {
        let g = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("{g}/{}", self.plural)
    }
}

/// Every resource Herald serves.
pub struct Registry {
    resources: Vec<Resource>,
}

impl Registry {
    /// The registry of all built-in kinds.
    pub fn new() -> Self {
        Registry {
            resources: crate::all_resources(),
        }
    }

    pub fn from_resources(resources: Vec<Resource>) -> Self {
        Registry { resources }
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Finds the endpoint for `group/version` and a plural resource name.
    pub fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<(&Resource, &ServedVersion)> {
        self.endpoints()
            .find(|(_, v)| v.group == group && v.version == version && v.plural == plural)
    }

    /// Finds the endpoint for `apiVersion` + `kind`.
    pub fn lookup_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(&Resource, &ServedVersion)> {
        let (group, version) = split_api_version(api_version);
        self.endpoints()
            .find(|(_, v)| v.group == group && v.version == version && v.kind == kind)
    }

    /// Finds a resource by group and kind in any served version (for references that omit or
    /// carry an old apiVersion).
    pub fn lookup_group_kind(&self, group: &str, kind: &str) -> Option<&Resource> {
        self.endpoints()
            .find(|(_, v)| v.group == group && v.kind == kind)
            .map(|(r, _)| r)
    }

    /// Finds a resource by its storage key (`Resource::key`).
    pub fn by_key(&self, key: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.key() == key)
    }

    /// Every (resource, endpoint) pair.
    pub fn endpoints(&self) -> impl Iterator<Item = (&Resource, &ServedVersion)> {
        self.resources
            .iter()
            .flat_map(|r| r.versions.iter().map(move |v| (r, v)))
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The identity conversion for the storage version.
pub fn identity(v: Value) -> Result<Value, FieldErrors> {
    Ok(v)
}

/// Sets `apiVersion` and `kind` on a JSON object.
pub fn set_type(mut v: Value, api_version: &str, kind: &str) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version.into()));
        m.insert("kind".into(), Value::String(kind.into()));
    }
    v
}
