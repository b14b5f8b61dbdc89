//! Legacy (unaggregated) discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//! `/apis/<g>/<v>`.
//!
//! kubectl 1.32 first asks for aggregated discovery (`apidiscovery.k8s.io/v2`) in its Accept
//! header; answering the legacy documents with `Content-Type: application/json` makes
//! client-go fall back to the per-group documents, which is all Herald serves.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use herald_api::Registry;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use serde_json::{Value, json};

/// The Kubernetes version Herald reports (the API surface it mimics).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

/// Verbs of a full resource.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// `/version` (`version.Info`).
pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-herald.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a (rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A sort key implementing Kubernetes version priority: GA > beta > alpha, higher major
/// first, then higher minor; versions that do not look like Kubernetes versions sort last,
/// alphabetically.
fn version_key(v: &str) -> (u8, i64, i64, String) {
    let parse = || -> Option<(u8, i64, i64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: i64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0, -major, 0));
        }
        for (tag, rank) in [("beta", 1u8), ("alpha", 2u8)] {
            if let Some(n) = tail.strip_prefix(tag) {
                let minor: i64 = n.parse().ok()?;
                return Some((rank, -major, -minor));
            }
        }
        None
    };
    match parse() {
        Some((rank, a, b)) => (rank, a, b, String::new()),
        None => (3, 0, 0, v.to_string()),
    }
}

/// Compares two versions by Kubernetes priority (the preferred one first).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    version_key(a).cmp(&version_key(b))
}

/// The groups Herald serves (non-core), each with its versions in priority order.
pub fn groups(reg: &Registry) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&str> = Vec::new();
    for (_, v) in reg.endpoints() {
        if !v.group.is_empty() && !names.contains(&v.group) {
            names.push(v.group);
        }
    }
    names
        .into_iter()
        .map(|g| {
            let mut versions: Vec<String> = reg
                .endpoints()
                .filter(|(_, v)| v.group == g)
                .map(|(_, v)| v.version.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            versions.sort_by(|a, b| compare_versions(a, b));
            (g.to_string(), versions)
        })
        .collect()
}

fn api_group(group: &str, versions: &[String]) -> APIGroup {
    let gvs: Vec<GroupVersionForDiscovery> = versions
        .iter()
        .map(|v| GroupVersionForDiscovery {
            group_version: format!("{group}/{v}"),
            version: v.clone(),
        })
        .collect();
    APIGroup {
        name: group.to_string(),
        preferred_version: gvs.first().cloned(),
        versions: gvs,
        server_address_by_client_cidrs: None,
    }
}

/// `/apis`.
pub fn api_group_list(reg: &Registry) -> APIGroupList {
    APIGroupList {
        groups: groups(reg).iter().map(|(g, vs)| api_group(g, vs)).collect(),
    }
}

/// `/apis/<group>`, if Herald serves it.
pub fn api_group_doc(reg: &Registry, group: &str) -> Option<APIGroup> {
    groups(reg)
        .iter()
        .find(|(g, _)| g == group)
        .map(|(g, vs)| api_group(g, vs))
}

/// `/api`.
pub fn api_versions() -> APIVersions {
    APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![],
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// `/apis/<g>/<v>` or `/api/v1` (`group == ""`); `None` when nothing is served there.
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<APIResourceList> {
    let mut resources = Vec::new();
    for (r, v) in reg.endpoints() {
        if v.group != group || v.version != version {
            continue;
        }
        resources.push(APIResource {
            name: v.plural.to_string(),
            singular_name: v.singular.to_string(),
            namespaced: r.namespaced,
            kind: v.kind.to_string(),
            verbs: strings(VERBS),
            short_names: (!v.short_names.is_empty()).then(|| strings(v.short_names)),
            categories: (!v.categories.is_empty()).then(|| strings(v.categories)),
            ..Default::default()
        });
        if r.has_status {
            resources.push(APIResource {
                name: format!("{}/status", v.plural),
                singular_name: String::new(),
                namespaced: r.namespaced,
                kind: v.kind.to_string(),
                verbs: strings(STATUS_VERBS),
                ..Default::default()
            });
        }
    }
    if group.is_empty() && version == "v1" {
        // `kubectl describe` lists events; Herald keeps none but answers the list.
        resources.push(APIResource {
            name: "events".into(),
            singular_name: "event".into(),
            namespaced: true,
            kind: "Event".into(),
            verbs: strings(&["list"]),
            short_names: Some(vec!["ev".into()]),
            ..Default::default()
        });
    }
    if resources.is_empty() && !(group.is_empty() && version == "v1") {
        return None;
    }
    Some(APIResourceList {
        group_version: herald_api::registry::api_version(group, version),
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority() {
        let mut vs = vec![
            "v1alpha1", "v1beta1", "v1", "v2", "v1beta2", "v1beta3", "foo", "v2alpha1", "v10",
        ];
        vs.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            vs,
            vec![
                "v10", "v2", "v1", "v1beta3", "v1beta2", "v1beta1", "v2alpha1", "v1alpha1", "foo"
            ]
        );
    }
}
