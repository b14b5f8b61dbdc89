//! Reads ConfigMaps (`config-br-defaults`, `config-features`, …) from the store for
//! defaulting and validation hooks, as Knative's webhooks read them from the cluster.

use std::collections::BTreeMap;

use herald_api::registry::ConfigLookup;
use herald_store::Store;
use serde_json::Value;

/// The store key of ConfigMaps.
pub const CONFIGMAPS: &str = "core/configmaps";

/// A [`ConfigLookup`] over the store.
pub struct StoreConfig<'a>(pub &'a Store);

impl ConfigLookup for StoreConfig<'_> {
    fn config_map(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let cm = self.0.get(CONFIGMAPS, namespace, name).ok().flatten()?;
        Some(
            cm.get("data")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}
