//! `Secret` (core v1). Stored as sensitive: values are never printed. `data` values are
//! base64 (k8s-openapi's `ByteString` rejects anything else at decoding).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use crate::field::{FieldError, FieldErrors};
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, Resource, ServedVersion, Typed, set_type,
};
use crate::schema::structural;

use super::validate_keys;

pub const KIND: &str = "Secret";

impl Kind for Secret {
    /// Like the API server: `type` defaults to `Opaque`, and `stringData` is merged into
    /// `data` (it is write-only).
    fn set_defaults(&mut self, _ctx: &Ctx) {
        if self.type_.as_deref().unwrap_or("").is_empty() {
            self.type_ = Some("Opaque".into());
        }
        if let Some(sd) = self.string_data.take() {
            let data = self.data.get_or_insert_with(Default::default);
            for (k, v) in sd {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = validate_keys(&[
            ("data", self.data.iter().flat_map(|m| m.keys()).collect()),
            (
                "stringData",
                self.string_data
                    .iter()
                    .flat_map(|m| m.keys())
                    .filter(|k| !self.data.as_ref().is_some_and(|d| d.contains_key(*k)))
                    .collect(),
            ),
        ]);
        if self.type_.as_deref() == Some("kubernetes.io/tls") {
            for k in ["tls.crt", "tls.key"] {
                if !self.data.as_ref().is_some_and(|d| d.contains_key(k)) {
                    errs.push(FieldError::required(format!("data.{k}")));
                }
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if old.type_ != self.type_ {
            errs.push(FieldError::immutable("type"));
        }
        if old.immutable == Some(true) {
            if self.data != old.data {
                errs.push(FieldError::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        errs
    }
}

pub static COLUMNS: [PrinterColumn; 2] = [
    PrinterColumn {
        name: "Type",
        type_: "string",
        json_path: ".type",
        priority: 0,
        description: "",
    },
    AGE_COLUMN,
];

/// The Secret resource.
pub fn resource() -> Resource {
    Resource {
        group: "",
        plural: "secrets",
        kind: KIND,
        namespaced: true,
        has_status: false,
        sensitive: true,
        versions: vec![ServedVersion {
            group: "",
            version: "v1",
            kind: KIND,
            plural: "secrets",
            singular: "secret",
            short_names: &[],
            categories: &[],
            columns: &COLUMNS,
            deprecated: None,
            schema: || structural::<Secret>(),
            to_storage: |v| Ok(set_type(v, "v1", KIND)),
            from_storage: |v| Ok(set_type(v, "v1", KIND)),
        }],
        hooks: Box::new(Typed::<Secret>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NoConfig;
    use serde_json::json;

    #[test]
    fn defaults_validation_immutability() {
        let r = resource();
        let ctx = Ctx { config: &NoConfig };
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
                           "data": {"a": "eA=="}, "stringData": {"b": "y"}});
        r.hooks.default(&mut s, &ctx).unwrap_or_default();
        assert_eq!(s["type"], json!("Opaque"));
        assert_eq!(s["data"], json!({"a": "eA==", "b": "eQ=="}));
        assert!(s.get("stringData").is_none());
        assert!(r.hooks.validate(&s, None, &ctx).is_ok());

        let bad = json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "not base64!"}});
        let errs = r.hooks.validate(&bad, None, &ctx).err().unwrap_or_default();
        assert_eq!(errs.0[0].path, "data.a");
        let tls = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        let errs = r.hooks.validate(&tls, None, &ctx).err().unwrap_or_default();
        assert_eq!(errs.0[0].path, "data.tls.key");

        let mut changed = s.clone();
        changed["type"] = json!("other");
        let errs = r
            .hooks
            .validate(&changed, Some(&s), &ctx)
            .err()
            .unwrap_or_default();
        assert_eq!(errs.0[0].path, "type");
        assert!(r.sensitive);
        assert!(!(r.versions[0].schema)().to_string().contains("$ref"));
    }
}
