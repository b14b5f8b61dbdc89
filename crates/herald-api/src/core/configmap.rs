//! `ConfigMap` (core v1). Herald reads Knative's configuration ConfigMaps
//! (`config-br-defaults`, `default-ch-webhook`, `config-features`, …) from these.

use k8s_openapi::api::core::v1::ConfigMap;

use crate::field::{FieldError, FieldErrors};
use crate::registry::{Ctx, Kind, Resource, ServedVersion, Typed, set_type};
use crate::schema::structural;

use super::{AGE_ONLY, validate_keys};

pub const KIND: &str = "ConfigMap";

impl Kind for ConfigMap {
    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        validate_keys(&[
            ("data", self.data.iter().flat_map(|m| m.keys()).collect()),
            (
                "binaryData",
                self.binary_data.iter().flat_map(|m| m.keys()).collect(),
            ),
        ])
    }

    fn validate_update(&self, old: &Self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if old.immutable == Some(true) {
            if self.data != old.data {
                errs.push(FieldError::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
            if self.binary_data != old.binary_data {
                errs.push(FieldError::forbidden(
                    "binaryData",
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

/// The ConfigMap resource.
pub fn resource() -> Resource {
    Resource {
        group: "",
        plural: "configmaps",
        kind: KIND,
        namespaced: true,
        has_status: false,
        sensitive: false,
        versions: vec![ServedVersion {
            group: "",
            version: "v1",
            kind: KIND,
            plural: "configmaps",
            singular: "configmap",
            short_names: &["cm"],
            categories: &[],
            columns: &AGE_ONLY,
            deprecated: None,
            schema: || structural::<ConfigMap>(),
            to_storage: |v| Ok(set_type(v, "v1", KIND)),
            from_storage: |v| Ok(set_type(v, "v1", KIND)),
        }],
        hooks: Box::new(Typed::<ConfigMap>::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NoConfig;
    use serde_json::json;

    #[test]
    fn validation_and_immutability() {
        let r = resource();
        let ctx = Ctx { config: &NoConfig };
        let cm = |data: serde_json::Value, immutable: bool| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                   "data": data, "immutable": immutable})
        };
        assert!(
            r.hooks
                .validate(&cm(json!({"a.yaml": "x"}), false), None, &ctx)
                .is_ok()
        );
        let errs = r
            .hooks
            .validate(&cm(json!({"a/b": "x"}), false), None, &ctx)
            .err()
            .unwrap_or_default();
        assert_eq!(errs.0[0].path, "data.a/b");
        let dup = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "x"}, "binaryData": {"k": "eA=="}});
        let errs = r.hooks.validate(&dup, None, &ctx).err().unwrap_or_default();
        assert_eq!(errs.0[0].path, "binaryData.k");
        let old = cm(json!({"k": "1"}), true);
        let errs = r
            .hooks
            .validate(&cm(json!({"k": "2"}), true), Some(&old), &ctx)
            .err()
            .unwrap_or_default();
        assert_eq!(errs.0[0].path, "data");
        assert!(
            r.hooks
                .validate(
                    &cm(json!({"k": "2"}), false),
                    Some(&cm(json!({"k": "1"}), false)),
                    &ctx
                )
                .is_ok()
        );
        assert!(!(r.versions[0].schema)().to_string().contains("$ref"));
    }
}
