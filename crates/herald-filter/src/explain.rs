//! Explaining a filter decision: which sub-filter decided it (used by `herald eval`).
//!
//! [`explain`] walks a Trigger's filter *as written* (`spec.filter.attributes` or
//! `spec.filters`) rather than the compiled tree, so that every path it reports
//! (`filters[1].any[0].exact`) points into the user's YAML even where compilation dropped or
//! collapsed nodes. It applies exactly the rules of [`crate::Filter::for_trigger`] and
//! `Compiled::eval`: an empty key or value (or an empty `cesql`, or an empty filter object)
//! makes that filter a *no filter*, skipped by `all`/`any`/`not` and passing at the top level;
//! `all` fails at its first failing child; `any` passes at its first passing child; `not`
//! inverts. A unit test checks the verdict against [`crate::Filter::matches`].

use std::collections::BTreeMap;
use std::fmt;

use herald_ce::Event;

use crate::attribute::lookup;
use crate::{FilterError, SubscriptionsApiFilter, Verdict};

/// One evaluated filter: where it is in the Trigger and why it gave its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Path into the Trigger's spec, e.g. `filters[1].any[0].exact` or
    /// `filter.attributes.myextension`.
    pub path: String,
    pub verdict: Verdict,
    /// Human-readable reason, e.g. `type "a" != "b"` or `missing`.
    pub reason: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// The outcome of a filter on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The three-valued verdict of the whole filter (`NoFilter` passes).
    pub verdict: Verdict,
    /// The node that decided the verdict.
    pub decided_by: Step,
    /// Every leaf filter evaluated, in evaluation order (short-circuited ones are absent).
    pub trace: Vec<Step>,
}

impl Explanation {
    /// True if the event is delivered (same as [`crate::Filter::matches`]).
    pub fn matched(&self) -> bool {
        self.verdict != Verdict::Fail
    }
}

/// Explains the filter of a Trigger (`filters` when non-empty, else `filter.attributes`) on
/// `event`. Fails only on a CESQL expression that does not parse, like
/// [`crate::Filter::for_trigger`].
pub fn explain(
    attributes: Option<&BTreeMap<String, String>>,
    filters: &[SubscriptionsApiFilter],
    event: &Event,
) -> Result<Explanation, FilterError> {
    // Compile first: it reports every invalid expression, even ones evaluation never reaches.
    crate::Filter::for_trigger(attributes, filters)?;
    let mut trace = Vec::new();
    if !filters.is_empty() {
        let children: Vec<(String, &SubscriptionsApiFilter)> = filters
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("filters[{i}]"), f))
            .collect();
        let decided_by = all(&mut trace, "filters", &children, event)?;
        let decided_by = no_filter_passes(decided_by, "filters");
        return Ok(Explanation {
            verdict: decided_by.verdict,
            decided_by,
            trace,
        });
    }
    let decided_by = match attributes.filter(|a| !a.is_empty()) {
        None => Step {
            path: "filter".into(),
            verdict: Verdict::NoFilter,
            reason: "no filter: every event passes".into(),
        },
        Some(attrs) => legacy(&mut trace, attrs, event),
    };
    Ok(Explanation {
        verdict: decided_by.verdict,
        decided_by,
        trace,
    })
}

fn no_filter_passes(step: Step, path: &str) -> Step {
    if step.verdict == Verdict::NoFilter && step.path == path {
        Step {
            reason: "no effective filter (every filter is ignored): every event passes".into(),
            ..step
        }
    } else {
        step
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// Legacy `filter.attributes`: every key must exist; `""` means present and non-empty.
fn legacy(trace: &mut Vec<Step>, attrs: &BTreeMap<String, String>, event: &Event) -> Step {
    let mut passed = Vec::new();
    for (k, want) in attrs {
        let path = format!("filter.attributes.{k}");
        let fail = |reason: String| Step {
            path: path.clone(),
            verdict: Verdict::Fail,
            reason,
        };
        let step = match lookup(event, k) {
            None => fail("missing".into()),
            Some(v) if want.is_empty() && v.is_empty() => {
                fail("empty (\"\" in the filter means present and non-empty)".into())
            }
            Some(v) if want.is_empty() => Step {
                path: path.clone(),
                verdict: Verdict::Pass,
                reason: format!("{} is present and non-empty", quoted(&v)),
            },
            Some(v) if v == want.as_str() => Step {
                path: path.clone(),
                verdict: Verdict::Pass,
                reason: format!("{} == {}", quoted(&v), quoted(want)),
            },
            Some(v) => fail(format!("{} != {}", quoted(&v), quoted(want))),
        };
        trace.push(step.clone());
        if step.verdict == Verdict::Fail {
            return step;
        }
        passed.push(if want.is_empty() {
            format!("{k} present")
        } else {
            format!("{k} == {}", quoted(want))
        });
    }
    Step {
        path: "filter.attributes".into(),
        verdict: Verdict::Pass,
        reason: format!("all match: {}", passed.join(", ")),
    }
}

#[derive(Clone, Copy)]
enum MapDialect {
    Exact,
    Prefix,
    Suffix,
}

impl MapDialect {
    fn name(self) -> &'static str {
        match self {
            MapDialect::Exact => "exact",
            MapDialect::Prefix => "prefix",
            MapDialect::Suffix => "suffix",
        }
    }
}

fn map_dialect(
    trace: &mut Vec<Step>,
    path: String,
    dialect: MapDialect,
    map: &BTreeMap<String, String>,
    event: &Event,
) -> Step {
    let step = map_dialect_step(path, dialect, map, event);
    trace.push(step.clone());
    step
}

fn map_dialect_step(
    path: String,
    dialect: MapDialect,
    map: &BTreeMap<String, String>,
    event: &Event,
) -> Step {
    if let Some((k, v)) = map.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
        let what = if k.is_empty() {
            "an empty key"
        } else {
            "an empty value"
        };
        return Step {
            path,
            verdict: Verdict::NoFilter,
            reason: format!(
                "ignored: {what} ({} {}) makes this filter a no-filter",
                quoted(k),
                quoted(v)
            ),
        };
    }
    let (ok_word, fail_word) = match dialect {
        MapDialect::Exact => ("==", "!="),
        MapDialect::Prefix => ("starts with", "does not start with"),
        MapDialect::Suffix => ("ends with", "does not end with"),
    };
    let mut passed = Vec::new();
    for (k, want) in map {
        let Some(v) = lookup(event, k) else {
            return Step {
                path,
                verdict: Verdict::Fail,
                reason: format!("{k} missing"),
            };
        };
        let ok = match dialect {
            MapDialect::Exact => v == want.as_str(),
            MapDialect::Prefix => v.starts_with(want.as_str()),
            MapDialect::Suffix => v.ends_with(want.as_str()),
        };
        if !ok {
            return Step {
                path,
                verdict: Verdict::Fail,
                reason: format!("{k} {} {fail_word} {}", quoted(&v), quoted(want)),
            };
        }
        passed.push(format!("{k} {} {ok_word} {}", quoted(&v), quoted(want)));
    }
    Step {
        path,
        verdict: Verdict::Pass,
        reason: passed.join(", "),
    }
}

fn cesql(
    trace: &mut Vec<Step>,
    path: String,
    src: &str,
    event: &Event,
) -> Result<Step, FilterError> {
    let expr = herald_cesql::Expression::parse(src).map_err(|e| FilterError::Cesql {
        path: path
            .trim_start_matches("filters")
            .trim_end_matches(".cesql")
            .to_string(),
        message: e.to_string(),
    })?;
    let (value, error) = expr.evaluate(event);
    let shown = match &value {
        herald_cesql::Value::String(s) => quoted(s),
        other => other.to_string(),
    };
    let (verdict, reason) = match (&value, &error) {
        (_, Some(e)) => (
            Verdict::Fail,
            format!("{} -> {shown} with {e}", quoted(src)),
        ),
        (herald_cesql::Value::Boolean(true), None) => {
            (Verdict::Pass, format!("{} -> true", quoted(src)))
        }
        (herald_cesql::Value::Boolean(false), None) => {
            (Verdict::Fail, format!("{} -> false", quoted(src)))
        }
        (_, None) => (
            Verdict::Fail,
            format!("{} -> {shown}, not a Boolean", quoted(src)),
        ),
    };
    let step = Step {
        path,
        verdict,
        reason,
    };
    trace.push(step.clone());
    Ok(step)
}

/// One filter object: every dialect present must pass (in the order `dialect::compile` uses).
fn object(
    trace: &mut Vec<Step>,
    path: &str,
    f: &SubscriptionsApiFilter,
    event: &Event,
) -> Result<Step, FilterError> {
    let mut parts: Vec<Step> = Vec::new();
    let mut count = 0;
    // Evaluate parts lazily so that, as in `Compiled::eval`, the first failing part stops.
    let mut push = |step: Step, parts: &mut Vec<Step>| -> bool {
        count += 1;
        let fail = step.verdict == Verdict::Fail;
        parts.push(step);
        fail
    };
    if let Some(sql) = f.cesql.as_deref() {
        let p = format!("{path}.cesql");
        let step = if sql.trim().is_empty() {
            Step {
                path: p,
                verdict: Verdict::NoFilter,
                reason: "ignored: empty expression".into(),
            }
        } else {
            cesql(trace, p, sql, event)?
        };
        if push(step, &mut parts) {
            return Ok(last(parts));
        }
    }
    for (dialect, map) in [
        (MapDialect::Exact, &f.exact),
        (MapDialect::Prefix, &f.prefix),
        (MapDialect::Suffix, &f.suffix),
    ] {
        if map.is_empty() {
            continue;
        }
        let step = map_dialect(
            trace,
            format!("{path}.{}", dialect.name()),
            dialect,
            map,
            event,
        );
        if push(step, &mut parts) {
            return Ok(last(parts));
        }
    }
    if !f.all.is_empty() {
        let p = format!("{path}.all");
        let children: Vec<(String, &SubscriptionsApiFilter)> = f
            .all
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{p}[{i}]"), c))
            .collect();
        let step = all(trace, &p, &children, event)?;
        if push(step, &mut parts) {
            return Ok(last(parts));
        }
    }
    if !f.any.is_empty() {
        let p = format!("{path}.any");
        let step = any(trace, &p, &f.any, event)?;
        if push(step, &mut parts) {
            return Ok(last(parts));
        }
    }
    if let Some(inner) = &f.not {
        let p = format!("{path}.not");
        let step = object(trace, &p, inner, event)?;
        let step = match step.verdict {
            Verdict::NoFilter => step,
            v => Step {
                verdict: if v == Verdict::Pass {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
                path: step.path,
                reason: format!("{} (negated by {p})", step.reason),
            },
        };
        if push(step, &mut parts) {
            return Ok(last(parts));
        }
    }
    if count == 0 {
        return Ok(Step {
            path: path.to_string(),
            verdict: Verdict::NoFilter,
            reason: "ignored: empty filter".into(),
        });
    }
    Ok(conjunction(path, parts))
}

fn last(mut parts: Vec<Step>) -> Step {
    parts.pop().unwrap_or_else(|| Step {
        path: String::new(),
        verdict: Verdict::NoFilter,
        reason: String::new(),
    })
}

/// The verdict of parts that all passed or were ignored: the single effective one decides;
/// several passing ones decide together; none means no filter.
fn conjunction(path: &str, parts: Vec<Step>) -> Step {
    let effective: Vec<Step> = parts
        .into_iter()
        .filter(|s| s.verdict != Verdict::NoFilter)
        .collect();
    match effective.len() {
        0 => Step {
            path: path.to_string(),
            verdict: Verdict::NoFilter,
            reason: "ignored: every part is a no-filter".into(),
        },
        1 => last(effective),
        n => Step {
            path: path.to_string(),
            verdict: Verdict::Pass,
            reason: format!("all {n} filters pass"),
        },
    }
}

/// `all` (and the top-level `filters` array): fails at the first failing child.
fn all(
    trace: &mut Vec<Step>,
    path: &str,
    children: &[(String, &SubscriptionsApiFilter)],
    event: &Event,
) -> Result<Step, FilterError> {
    let mut parts = Vec::new();
    for (p, c) in children {
        let step = object(trace, p, c, event)?;
        if step.verdict == Verdict::Fail {
            return Ok(step);
        }
        parts.push(step);
    }
    Ok(conjunction(path, parts))
}

/// `any`: passes at the first passing child; fails if some child failed and none passed.
fn any(
    trace: &mut Vec<Step>,
    path: &str,
    children: &[SubscriptionsApiFilter],
    event: &Event,
) -> Result<Step, FilterError> {
    let mut failed: Vec<Step> = Vec::new();
    for (i, c) in children.iter().enumerate() {
        let step = object(trace, &format!("{path}[{i}]"), c, event)?;
        match step.verdict {
            Verdict::Pass => return Ok(step),
            Verdict::Fail => failed.push(step),
            Verdict::NoFilter => {}
        }
    }
    Ok(match failed.len() {
        0 => Step {
            path: path.to_string(),
            verdict: Verdict::NoFilter,
            reason: "ignored: every alternative is a no-filter".into(),
        },
        1 => last(failed),
        _ => Step {
            path: path.to_string(),
            verdict: Verdict::Fail,
            reason: format!(
                "no alternative passes: {}",
                failed
                    .iter()
                    .map(|s| format!(
                        "{}: {}",
                        s.path.strip_prefix(path).unwrap_or(&s.path),
                        s.reason
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use herald_ce::AttrValue;
    use serde_json::json;

    use super::*;
    use crate::Filter;

    fn events() -> Vec<Event> {
        let mut a = Event::new("1", "/herald/test", "dev.knative.example.created");
        a.set_extension("myext", AttrValue::String("hello".into()));
        a.set_extension("count", AttrValue::Integer(5));
        a.subject = Some("orders/42".into());
        let b = Event::new("2", "/other", "dev.knative.example.deleted");
        let mut c = Event::new("3", "/herald/test", "com.example.x");
        c.set_extension("myext", AttrValue::String(String::new()));
        vec![a, b, c]
    }

    fn filter_table() -> Vec<serde_json::Value> {
        vec![
            json!([]),
            json!([{}]),
            json!([{"exact": {"type": "dev.knative.example.created"}}]),
            json!([{"exact": {"type": ""}}]),
            json!([{"exact": {"": "x"}}, {"exact": {"source": "/other"}}]),
            json!([{"exact": {"type": "dev.knative.example.created", "myext": "hello"}}]),
            json!([{"exact": {"nope": "x"}}]),
            json!([{"prefix": {"type": "dev.knative."}}]),
            json!([{"suffix": {"type": ".created"}}, {"prefix": {"source": "/herald"}}]),
            json!([{"all": []}]),
            json!([{"any": []}]),
            json!([{"all": [{"exact": {"type": ""}}]}]),
            json!([{"any": [{"exact": {"type": ""}}]}]),
            json!([{"any": [{"exact": {"type": "a"}}, {"exact": {"source": "/other"}}]}]),
            json!([{"any": [{"exact": {"type": "a"}}, {"exact": {"type": ""}}]}]),
            json!([{"any": [{"exact": {"type": "a"}}, {"prefix": {"type": "b"}}]}]),
            json!([{"not": {"exact": {"type": "dev.knative.example.created"}}}]),
            json!([{"not": {"exact": {"type": ""}}}]),
            json!([{"not": {}}]),
            json!([{"not": {"any": [{"exact": {"type": "a"}}, {"suffix": {"source": "test"}}]}}]),
            json!([{"all": [{"prefix": {"type": "dev."}}, {"not": {"exact": {"myext": "hello"}}}]}]),
            json!([{"cesql": "type LIKE 'dev.%' AND count > 3"}]),
            json!([{"cesql": "myext = 'hello'"}]),
            json!([{"cesql": "1 + 1"}]),
            json!([{"cesql": "  "}]),
            json!([{"cesql": "NOT EXISTS myext"}, {"exact": {"id": "3"}}]),
            json!([{"exact": {"type": "com.example.x"}, "cesql": "true", "not": {"exact": {"id": "2"}}}]),
            json!([{"exact": {"type": "com.example.x"}, "prefix": {"source": "/nope"}}]),
        ]
    }

    #[test]
    fn verdict_equals_filter_matches() {
        let evs = events();
        for v in filter_table() {
            let filters: Vec<SubscriptionsApiFilter> = serde_json::from_value(v.clone()).unwrap();
            let compiled = Filter::for_trigger(None, &filters).unwrap();
            for ev in &evs {
                let ex = explain(None, &filters, ev).unwrap();
                assert_eq!(
                    ex.matched(),
                    compiled.matches(ev),
                    "{v} on {}: {ex:?}",
                    ev.id
                );
                assert_eq!(ex.verdict, ex.decided_by.verdict, "{v}");
                assert_eq!(
                    ex.verdict,
                    compiled.root.eval(ev),
                    "{v} on {}: {ex:?}",
                    ev.id
                );
            }
        }
        let attr_table: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("type", "dev.knative.example.created")],
            vec![("type", "")],
            vec![("myext", "")],
            vec![("subject", "")],
            vec![("missing", "x")],
            vec![("count", "5"), ("source", "/herald/test")],
        ];
        for pairs in attr_table {
            let attrs: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let compiled = Filter::for_trigger(Some(&attrs), &[]).unwrap();
            for ev in &evs {
                let ex = explain(Some(&attrs), &[], ev).unwrap();
                assert_eq!(ex.matched(), compiled.matches(ev), "{pairs:?} on {}", ev.id);
            }
        }
    }

    #[test]
    fn paths_point_into_the_spec() {
        let ev = &events()[0];
        let filters: Vec<SubscriptionsApiFilter> = serde_json::from_value(json!([
            {"exact": {"source": "/herald/test"}},
            {"any": [{"exact": {"type": "a"}}]}
        ]))
        .unwrap();
        let ex = explain(None, &filters, ev).unwrap();
        assert_eq!(
            ex.decided_by.to_string(),
            r#"filters[1].any[0].exact: type "dev.knative.example.created" != "a""#
        );
        let attrs = BTreeMap::from([("nope".to_string(), "x".to_string())]);
        let ex = explain(Some(&attrs), &[], ev).unwrap();
        assert_eq!(ex.decided_by.to_string(), "filter.attributes.nope: missing");
        let bad: Vec<SubscriptionsApiFilter> =
            serde_json::from_value(json!([{}, {"not": {"cesql": "type ="}}])).unwrap();
        let err = explain(None, &bad, ev).unwrap_err();
        assert!(
            err.to_string().starts_with("filters[1].not.cesql: "),
            "{err}"
        );
    }
}
