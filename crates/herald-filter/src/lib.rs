//! Trigger filters, compiled once per Trigger and evaluated per event.
//!
//! Two front ends, as in Knative: the legacy `spec.filter.attributes` exact match
//! ([`Filter::attributes`]) and the CloudEvents Subscriptions API dialects of `spec.filters`
//! (exact, prefix, suffix, all, any, not, cesql) ([`Filter::subscriptions_api`]).
//! When `spec.filters` is non-empty it wins and `spec.filter` is ignored ([`Filter::for_trigger`]).
//!
//! Evaluation is three-valued like Knative's `eventfilter` package: a filter that could not be
//! built (an empty key or value) is *no filter*, which `all`/`any`/`not` skip and which passes at
//! the top level.

mod attribute;
mod dialect;
pub mod explain;
pub mod index;

use std::collections::BTreeMap;

use herald_ce::Event;
use serde::{Deserialize, Serialize};

pub use attribute::lookup;
pub use dialect::{Compiled, Verdict};
pub use index::TriggerIndex;

/// One filter of the Subscriptions API (`spec.filters[]`); field names as in Knative's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionsApiFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<SubscriptionsApiFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<SubscriptionsApiFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<SubscriptionsApiFilter>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefix: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suffix: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cesql: Option<String>,
}

/// Why a Trigger's filter cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A CESQL expression that does not parse (admission rejects these; kept for stored
    /// objects from older versions).
    #[error("filters{path}.cesql: {message}")]
    Cesql { path: String, message: String },
}

/// A compiled Trigger filter.
#[derive(Debug, Clone)]
pub struct Filter {
    pub(crate) root: Compiled,
}

impl Filter {
    /// Passes every event (no filter, or `filter: {}`).
    pub fn pass_all() -> Self {
        Filter {
            root: Compiled::NoFilter,
        }
    }

    /// Legacy `spec.filter.attributes`: every key must exist; `""` means "present and non-empty";
    /// any other value must match exactly (case-sensitive).
    pub fn attributes(attributes: &BTreeMap<String, String>) -> Self {
        if attributes.is_empty() {
            return Self::pass_all();
        }
        Filter {
            root: Compiled::Attributes(
                attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }
    }

    /// `spec.filters`: the array is AND-ed; an empty array passes everything.
    pub fn subscriptions_api(filters: &[SubscriptionsApiFilter]) -> Result<Self, FilterError> {
        let children = filters
            .iter()
            .enumerate()
            .map(|(i, f)| dialect::compile(f, &format!("[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            root: Compiled::all(children),
        })
    }

    /// The filter of a Trigger: `filters` when non-empty, else `filter.attributes`.
    pub fn for_trigger(
        attributes: Option<&BTreeMap<String, String>>,
        filters: &[SubscriptionsApiFilter],
    ) -> Result<Self, FilterError> {
        if !filters.is_empty() {
            return Self::subscriptions_api(filters);
        }
        Ok(attributes
            .map(Self::attributes)
            .unwrap_or_else(Self::pass_all))
    }

    /// True if the event should be delivered.
    pub fn matches(&self, event: &Event) -> bool {
        self.root.eval(event) != Verdict::Fail
    }
}
