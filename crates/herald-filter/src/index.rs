//! Trigger index: with many Triggers on one Broker, an event is evaluated only against the
//! Triggers that can match it.
//!
//! Every filter is a conjunction at its top level (the `filters` array, `all`, the legacy
//! attribute map, a CESQL `AND`). Where that conjunction requires an attribute to equal a string
//! (`exact: {type: x}`, `filter.attributes: {type: x}`, CESQL `type = 'x'`), the Trigger can only
//! match events carrying that value, so it is filed under (attribute, value). An event then looks
//! up its own value of each indexed attribute — a handful of hash lookups, however many Triggers
//! there are — and evaluates the full filter of those candidates only, plus the Triggers that have
//! no such constraint. Each Trigger is filed under one constraint (preferring `type`, then
//! `source`), so it is a candidate at most once.

use std::collections::HashMap;
use std::sync::Arc;

use herald_ce::Event;

use crate::Filter;
use crate::attribute::lookup;
use crate::dialect::Compiled;

/// Attributes preferred as index keys: the most selective in practice.
const PREFERRED: [&str; 2] = ["type", "source"];

impl Filter {
    /// `(attribute, value)` pairs every matching event must carry (as canonical strings).
    pub fn required_equalities(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        collect(&self.root, &mut out);
        out
    }
}

fn collect(node: &Compiled, out: &mut Vec<(String, String)>) {
    match node {
        // Legacy: a non-empty value must match exactly; "" only requires presence.
        Compiled::Attributes(pairs) => {
            out.extend(pairs.iter().filter(|(_, v)| !v.is_empty()).cloned())
        }
        Compiled::Exact(pairs) => out.extend(pairs.iter().cloned()),
        Compiled::All(children) => children.iter().for_each(|c| collect(c, out)),
        Compiled::Cesql(expr) => out.extend(expr.required_equalities()),
        // prefix/suffix/any/not constrain no single value.
        _ => {}
    }
}

/// Triggers of one Broker, indexed by their exact-match constraints.
#[derive(Debug)]
pub struct TriggerIndex<K> {
    entries: Vec<(K, Arc<Filter>)>,
    /// attribute → (value → entry indices).
    by_attr: Vec<(String, HashMap<String, Vec<usize>>)>,
    /// Entries with no exact constraint: evaluated for every event.
    unindexed: Vec<usize>,
}

impl<K: Clone> TriggerIndex<K> {
    pub fn build(triggers: impl IntoIterator<Item = (K, Arc<Filter>)>) -> Self {
        let entries: Vec<(K, Arc<Filter>)> = triggers.into_iter().collect();
        let mut by_attr: Vec<(String, HashMap<String, Vec<usize>>)> = Vec::new();
        let mut unindexed = Vec::new();
        for (i, (_, filter)) in entries.iter().enumerate() {
            let reqs = filter.required_equalities();
            let pick = PREFERRED
                .iter()
                .find_map(|p| reqs.iter().find(|(a, _)| a == p))
                .or_else(|| reqs.first());
            match pick {
                None => unindexed.push(i),
                Some((attr, value)) => {
                    let slot = match by_attr.iter().position(|(a, _)| a == attr) {
                        Some(p) => p,
                        None => {
                            by_attr.push((attr.clone(), HashMap::new()));
                            by_attr.len() - 1
                        }
                    };
                    by_attr[slot].1.entry(value.clone()).or_default().push(i);
                }
            }
        }
        TriggerIndex {
            entries,
            by_attr,
            unindexed,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends to `out` the key of every Trigger whose filter matches `event`; returns how many
    /// filters were evaluated (the candidates).
    pub fn matches(&self, event: &Event, out: &mut Vec<K>) -> usize {
        let mut evaluated = 0;
        let mut check = |i: usize, out: &mut Vec<K>| {
            evaluated += 1;
            let (key, filter) = &self.entries[i];
            if filter.matches(event) {
                out.push(key.clone());
            }
        };
        for (attr, values) in &self.by_attr {
            if let Some(v) = lookup(event, attr)
                && let Some(candidates) = values.get(v.as_ref())
            {
                for &i in candidates {
                    check(i, out);
                }
            }
        }
        for &i in &self.unindexed {
            check(i, out);
        }
        evaluated
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::SubscriptionsApiFilter;
    use herald_ce::{AttrValue, SpecVersion};

    fn filter(v: serde_json::Value) -> Arc<Filter> {
        let f: Vec<SubscriptionsApiFilter> = serde_json::from_value(v).unwrap();
        Arc::new(Filter::subscriptions_api(&f).unwrap())
    }

    fn event(ty: &str, source: &str) -> Event {
        let mut e = Event {
            specversion: SpecVersion::V10,
            id: "1".into(),
            source: source.into(),
            ty: ty.into(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            time: None,
            extensions: Default::default(),
            data: None,
        };
        e.set_extension("region", AttrValue::String("eu".into()));
        e
    }

    #[test]
    fn required_equalities_of_each_front_end() {
        let legacy = Filter::attributes(
            &[
                ("type".to_string(), "a".to_string()),
                ("x".to_string(), String::new()),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(legacy.required_equalities(), [("type".into(), "a".into())]);
        let f = filter(serde_json::json!([
            {"exact": {"source": "/s"}},
            {"all": [{"cesql": "type = 'b' AND region LIKE 'e%'"}]},
            {"any": [{"exact": {"region": "eu"}}]},
            {"prefix": {"type": "b"}}
        ]));
        // A one-element `any` collapses to its element, so its constraint counts too.
        assert_eq!(
            f.required_equalities(),
            [
                ("source".into(), "/s".into()),
                ("type".into(), "b".into()),
                ("region".into(), "eu".into())
            ]
        );
    }

    #[test]
    fn index_gives_the_same_answer_as_evaluating_everything() {
        let specs = [
            serde_json::json!([{"exact": {"type": "a"}}]),
            serde_json::json!([{"exact": {"type": "b"}}]),
            serde_json::json!([{"exact": {"source": "/s2"}}]),
            serde_json::json!([{"cesql": "type = 'a' AND region = 'eu'"}]),
            serde_json::json!([{"cesql": "region = 'us'"}]),
            serde_json::json!([{"prefix": {"type": "a"}}]),
            serde_json::json!([]),
            serde_json::json!([{"exact": {"region": "eu"}}]),
        ];
        let triggers: Vec<(usize, Arc<Filter>)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (i, filter(s.clone())))
            .collect();
        let index = TriggerIndex::build(triggers.clone());
        for (ty, source) in [("a", "/s"), ("b", "/s2"), ("ab", "/s"), ("c", "/x")] {
            let ev = event(ty, source);
            let mut got = Vec::new();
            let evaluated = index.matches(&ev, &mut got);
            got.sort();
            let want: Vec<usize> = triggers
                .iter()
                .filter(|(_, f)| f.matches(&ev))
                .map(|(i, _)| *i)
                .collect();
            assert_eq!(got, want, "{ty} {source}");
            assert!(evaluated < triggers.len(), "{ty}: evaluated {evaluated}");
        }
    }
}
