//! Runs every case of the official CESQL v1.0.0 TCK (vendored in `tests/tck/`, see its
//! README) and compares the result value and error kind exactly.

use std::collections::BTreeMap;
use std::path::Path;

use herald_ce::{AttrValue, Event, SpecVersion};
use herald_cesql::{Expression, Value};
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Deserialize)]
struct TckFile {
    name: String,
    tests: Vec<TckCase>,
}

#[derive(Deserialize)]
struct TckCase {
    name: String,
    expression: Json,
    #[serde(default)]
    result: Option<Json>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    event: Option<BTreeMap<String, Json>>,
    #[serde(default, rename = "eventOverrides")]
    event_overrides: Option<BTreeMap<String, Json>>,
}

/// Scalars as YAML text: the TCK writes some expressions unquoted (`expression: TRUE`,
/// `expression: 0`, `expression: -10`).
fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        other => other.to_string(),
    }
}

/// The event used when a case gives none ("any valid event"); `eventOverrides` apply to it.
fn default_event() -> BTreeMap<String, Json> {
    let j = serde_json::json!({
        "specversion": "1.0",
        "id": "tck-default-id",
        "source": "/tck/default-source",
        "type": "io.cloudevents.tck.default",
        "datacontenttype": "application/json",
        "subject": "default-subject",
        "time": "2018-04-26T14:48:09+02:00",
        "exbool": true,
        "exint": 42,
        "exstring": "exstring"
    });
    serde_json::from_value(j).expect("static JSON")
}

fn text(v: &Json) -> String {
    scalar_text(v)
}

/// Builds the event directly from the YAML map: string values become String extensions,
/// integers Integer, booleans Boolean.
fn build_event(map: &BTreeMap<String, Json>) -> Event {
    let get = |k: &str| map.get(k).map(text).unwrap_or_default();
    let mut ev = Event::new(get("id"), get("source"), get("type"));
    ev.specversion = match map.get("specversion").map(text).as_deref() {
        Some("0.3") => SpecVersion::V03,
        _ => SpecVersion::V10,
    };
    for (k, v) in map {
        match k.as_str() {
            "specversion" | "id" | "source" | "type" => {}
            "datacontenttype" => ev.datacontenttype = Some(text(v)),
            "dataschema" => ev.dataschema = Some(text(v)),
            "subject" => ev.subject = Some(text(v)),
            "time" => ev.time = Some(text(v)),
            name => {
                let av = match v {
                    Json::Bool(b) => AttrValue::Boolean(*b),
                    Json::Number(n) => AttrValue::Integer(n.as_i64().expect("integer extension")),
                    other => AttrValue::String(text(other)),
                };
                ev.set_extension(name, av);
            }
        }
    }
    ev
}

fn expected_value(v: &Json) -> Value {
    match v {
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Integer(
            n.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .expect("32-bit integer result"),
        ),
        Json::String(s) => Value::String(s.clone()),
        other => panic!("unsupported TCK result {other}"),
    }
}

/// Runs one case; `Err` describes a mismatch.
fn run_case(case: &TckCase) -> Result<(), String> {
    let expr_src = scalar_text(&case.expression);
    let parsed = Expression::parse(&expr_src);
    if case.error.as_deref() == Some("parse") {
        return match parsed {
            Err(_) => Ok(()),
            Ok(_) => Err("expected a parse error, but parsing succeeded".into()),
        };
    }
    let expr = parsed.map_err(|e| format!("unexpected parse error: {}", e.render(&expr_src)))?;
    let mut map = case.event.clone().unwrap_or_else(default_event);
    for (k, v) in case.event_overrides.iter().flatten() {
        map.insert(k.clone(), v.clone());
    }
    let event = build_event(&map);
    let (value, err) = expr.evaluate(&event);
    let want_value = case.result.as_ref().map(expected_value);
    let got_kind = err.as_ref().map(|e| e.kind.as_str());
    let mut problems = Vec::new();
    if let Some(want) = &want_value
        && *want != value
    {
        problems.push(format!("result {value:?}, want {want:?}"));
    }
    if want_value.is_none() {
        problems.push(format!("case has no expected result (got {value:?})"));
    }
    if got_kind != case.error.as_deref() {
        problems.push(format!("error {err:?}, want kind {:?}", case.error));
    }
    // The filtering rule must agree with evaluate().
    if expr.matches(&event) != (value == Value::Boolean(true) && err.is_none()) {
        problems.push("matches() disagrees with evaluate()".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
fn tck() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tck");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/tck exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 18, "expected the 18 TCK files of CESQL v1.0.0");
    let (mut passed, mut failed) = (0usize, Vec::new());
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable TCK file");
        let file: TckFile =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in &file.tests {
            match run_case(case) {
                Ok(()) => passed += 1,
                Err(why) => failed.push(format!(
                    "{} / {}: `{}`: {why}",
                    file.name,
                    case.name,
                    scalar_text(&case.expression)
                )),
            }
        }
    }
    for f in &failed {
        eprintln!("TCK FAIL {f}");
    }
    eprintln!(
        "CESQL TCK: {passed} of {} cases passed",
        passed + failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} TCK case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
