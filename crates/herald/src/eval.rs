//! `herald eval`: test a CESQL expression or a Trigger's filter against an event, offline.
//!
//! Exit status: 0 when the expression or filter was evaluated (whatever the result, even with
//! a CESQL evaluation error), 2 on a CESQL parse error or an input that cannot be used (an
//! unreadable file, invalid YAML, no Trigger, an invalid event). See `docs/eval.md`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header::CONTENT_LENGTH};
use bytes::Bytes;
use herald_ce::Event;
use herald_cesql::{Expression, Value};
use herald_filter::SubscriptionsApiFilter;
use herald_filter::explain::{Explanation, explain};
use serde_json::Value as Json;

use crate::cli::{EvalArgs, EvalOutput};

/// Exit status for a parse error or unusable input.
const BAD_INPUT: u8 = 2;

/// A failure that ends the command with exit status 2; the message goes to stderr.
struct Bad(String);

impl<T: Into<String>> From<T> for Bad {
    fn from(s: T) -> Self {
        Bad(s.into())
    }
}

pub fn run(args: EvalArgs) -> ExitCode {
    let result = match (&args.cesql, &args.trigger) {
        (Some(src), _) => eval_cesql(src, &args),
        (None, Some(path)) => eval_trigger(path, &args),
        // clap requires one of them.
        (None, None) => Err(Bad("give --cesql EXPR or --trigger FILE".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Bad(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

/// The event of `--event`, or (for `--cesql` only) a minimal one, announced on stderr.
fn event_of(args: &EvalArgs) -> Result<Event, Bad> {
    match &args.event {
        Some(path) => read_event(path),
        None => {
            eprintln!(
                "note: no --event given; evaluating against a minimal event \
                 (specversion 1.0, id \"1\", source \"/herald/eval\", type \"herald.eval\")"
            );
            Ok(Event::new("1", "/herald/eval", "herald.eval"))
        }
    }
}

fn json_value(v: &Value) -> Json {
    match v {
        Value::Integer(i) => Json::from(*i),
        Value::String(s) => Json::from(s.as_str()),
        Value::Boolean(b) => Json::from(*b),
    }
}

fn eval_cesql(src: &str, args: &EvalArgs) -> Result<(), Bad> {
    let expr = match Expression::parse(src) {
        Ok(expr) => expr,
        Err(e) => {
            if args.output == EvalOutput::Json {
                println!(r#"{{"result": null, "error": "parse"}}"#);
            }
            return Err(Bad(format!("invalid CESQL expression {}", e.render(src))));
        }
    };
    let event = event_of(args)?;
    let (value, error) = expr.evaluate(&event);
    match args.output {
        EvalOutput::Json => {
            let error = error
                .as_ref()
                .map_or(Json::Null, |e| Json::from(e.kind.as_str()));
            println!(
                r#"{{"result": {}, "error": {}}}"#,
                json_value(&value),
                error
            );
        }
        EvalOutput::Text => {
            let (ty, shown) = match &value {
                Value::Integer(i) => ("Integer", i.to_string()),
                Value::String(s) => ("String", format!("{s:?}")),
                Value::Boolean(b) => ("Boolean", b.to_string()),
            };
            println!("result: {shown} ({ty})");
            if let Some(e) = &error {
                println!("error: {}: {}", e.kind, e.message);
            }
            let verdict = match (&value, &error) {
                (_, Some(_)) => "does not pass (evaluation error)",
                (Value::Boolean(true), None) => "passes",
                (Value::Boolean(false), None) => "does not pass",
                (_, None) => "does not pass (the result is not a Boolean)",
            };
            println!("as a filter: {verdict}");
        }
    }
    Ok(())
}

/// The filter of a Trigger manifest, as `Filter::for_trigger` takes it.
struct TriggerFilter {
    name: String,
    attributes: Option<BTreeMap<String, String>>,
    filters: Vec<SubscriptionsApiFilter>,
}

fn eval_trigger(path: &Path, args: &EvalArgs) -> Result<(), Bad> {
    let trigger = read_trigger(path)?;
    let event = event_of(args)?;
    let shown = path.display();
    let ex = explain(trigger.attributes.as_ref(), &trigger.filters, &event)
        .map_err(|e| format!("{shown}: spec.{e}"))?;
    match args.output {
        EvalOutput::Json => println!(
            r#"{{"result": {}, "error": null, "decidedBy": {}}}"#,
            ex.matched(),
            Json::from(ex.decided_by.path.as_str())
        ),
        EvalOutput::Text => print_explanation(&trigger.name, &ex),
    }
    Ok(())
}

fn print_explanation(name: &str, ex: &Explanation) {
    let verdict = if ex.matched() {
        "matches"
    } else {
        "does not match"
    };
    println!("trigger {name}: the event {verdict}");
    println!("decided by: {}", ex.decided_by);
    if !ex.trace.is_empty() {
        println!("evaluated:");
        for step in &ex.trace {
            let v = match step.verdict {
                herald_filter::Verdict::Pass => "pass",
                herald_filter::Verdict::Fail => "fail",
                herald_filter::Verdict::NoFilter => "skip",
            };
            println!("  {v:<4}  {step}");
        }
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>, Bad> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| Bad(format!("cannot read {}: {e}", path.display())))
}

fn origin(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads the first Trigger of a manifest file (multi-document YAML or JSON); accepts
/// eventing.knative.dev v1 and v1alpha1.
fn read_trigger(path: &Path) -> Result<TriggerFilter, Bad> {
    let shown = origin(path);
    let bytes = read_input(path)?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8 text"))?;
    let docs: Vec<Json> =
        serde_saphyr::from_multiple(&text).map_err(|e| format!("{shown}: invalid YAML: {e}"))?;
    let kinds: Vec<String> = docs
        .iter()
        .filter_map(|d| d.get("kind").and_then(Json::as_str).map(str::to_string))
        .collect();
    let Some(doc) = docs
        .iter()
        .find(|d| d.get("kind").and_then(Json::as_str) == Some("Trigger"))
    else {
        return Err(Bad(if kinds.is_empty() {
            format!("{shown}: no Trigger in this file")
        } else {
            format!(
                "{shown}: no Trigger in this file (found {})",
                kinds.join(", ")
            )
        }));
    };
    let api_version = doc.get("apiVersion").and_then(Json::as_str).unwrap_or("");
    let legacy = match api_version {
        herald_api::eventing::trigger::API_VERSION => false,
        herald_api::eventing::trigger::LEGACY_API_VERSION => true,
        other => {
            return Err(Bad(format!(
                "{shown}: Trigger apiVersion {other:?} is not supported (use {} or {})",
                herald_api::eventing::trigger::API_VERSION,
                herald_api::eventing::trigger::LEGACY_API_VERSION
            )));
        }
    };
    let meta = |k: &str| {
        doc.pointer(&format!("/metadata/{k}"))
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    let name = match (meta("namespace"), meta("name")) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n,
        _ => "(unnamed)".to_string(),
    };
    let field = |p: &str| doc.pointer(p).filter(|v| !v.is_null()).cloned();
    let mut attributes = match field("/spec/filter/attributes") {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<BTreeMap<String, String>>(v)
                .map_err(|e| format!("{shown}: spec.filter.attributes: {e}"))?,
        ),
    };
    if legacy {
        // v1alpha1 `sourceAndType`, converted as the API server does (`Any` matches all).
        if let Some(st) = field("/spec/filter/sourceAndType") {
            let st: herald_api::eventing::trigger::TriggerFilterSourceAndType =
                serde_json::from_value(st)
                    .map_err(|e| format!("{shown}: spec.filter.sourceAndType: {e}"))?;
            let any = |s: String| if s == "Any" { String::new() } else { s };
            let a = attributes.get_or_insert_with(BTreeMap::new);
            a.insert("type".into(), any(st.type_));
            a.insert("source".into(), any(st.source));
        }
    }
    let filters = match field("/spec/filters") {
        Some(v) if !legacy => {
            let api: Vec<herald_api::eventing::trigger::SubscriptionsApiFilter> =
                serde_json::from_value(v.clone())
                    .map_err(|e| format!("{shown}: spec.filters: {e}"))?;
            let filters: Vec<SubscriptionsApiFilter> =
                serde_json::from_value(v).map_err(|e| format!("{shown}: spec.filters: {e}"))?;
            check_cesql(&shown, &filters)?;
            let mut errs = herald_api::FieldErrors::new();
            errs.extend_at(
                "spec.filters",
                herald_api::eventing::trigger::validate_filters(&api),
            );
            if !errs.is_empty() {
                eprintln!("warning: {shown}: `herald apply` would reject these filters: {errs}");
            }
            filters
        }
        _ => Vec::new(),
    };
    Ok(TriggerFilter {
        name,
        attributes,
        filters,
    })
}

/// Parses every CESQL expression of `filters`, reporting the first invalid one with a caret.
fn check_cesql(shown: &str, filters: &[SubscriptionsApiFilter]) -> Result<(), Bad> {
    fn walk(path: &str, f: &SubscriptionsApiFilter, out: &mut Vec<(String, String)>) {
        if let Some(sql) = f.cesql.as_deref().filter(|s| !s.trim().is_empty()) {
            out.push((format!("{path}.cesql"), sql.to_string()));
        }
        for (i, c) in f.all.iter().enumerate() {
            walk(&format!("{path}.all[{i}]"), c, out);
        }
        for (i, c) in f.any.iter().enumerate() {
            walk(&format!("{path}.any[{i}]"), c, out);
        }
        if let Some(c) = &f.not {
            walk(&format!("{path}.not"), c, out);
        }
    }
    let mut exprs = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        walk(&format!("spec.filters[{i}]"), f, &mut exprs);
    }
    for (path, sql) in exprs {
        if let Err(e) = Expression::parse(&sql) {
            return Err(Bad(format!(
                "{shown}: {path}: invalid CESQL expression {}",
                e.render(&sql)
            )));
        }
    }
    Ok(())
}

/// Reads an event: structured JSON (`{...}`, or a batch of one), or an HTTP request dump
/// (optional request line, headers, blank line, body; `\r\n` or `\n` line endings).
fn read_event(path: &Path) -> Result<Event, Bad> {
    let shown = origin(path);
    let bytes = read_input(path)?;
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| format!("{shown}: empty event file"))?;
    let invalid = |e: herald_ce::CeError| format!("{shown}: invalid event: {e}");
    match bytes[start] {
        b'{' => herald_ce::from_json(&bytes).map_err(|e| Bad(invalid(e))),
        b'[' => {
            let mut events = herald_ce::batch_from_json(&bytes).map_err(invalid)?;
            one(&shown, &mut events)
        }
        _ => {
            let (headers, body) =
                parse_dump(&bytes[start..]).map_err(|e| format!("{shown}: {e}"))?;
            let (_, mut events) = herald_ce::decode_http(&headers, body).map_err(invalid)?;
            one(&shown, &mut events)
        }
    }
}

fn one(shown: &str, events: &mut Vec<Event>) -> Result<Event, Bad> {
    match events.len() {
        1 => Ok(events.remove(0)),
        n => Err(Bad(format!(
            "{shown}: a batch of {n} events; give exactly one event"
        ))),
    }
}

/// True for a request line (`POST /default/default HTTP/1.1`) or a status line
/// (`HTTP/1.1 200 OK`).
fn is_start_line(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [method, _target, version] => {
            method.chars().all(|c| c.is_ascii_uppercase()) && version.starts_with("HTTP/")
        }
        [version, status, ..] => {
            version.starts_with("HTTP/") && status.chars().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Splits an HTTP message dump into headers and body.
fn parse_dump(bytes: &[u8]) -> Result<(HeaderMap, Bytes), String> {
    let find = |pat: &[u8]| bytes.windows(pat.len()).position(|w| w == pat);
    let (head, body) = match (find(b"\r\n\r\n"), find(b"\n\n")) {
        (Some(a), Some(b)) if b < a => (&bytes[..b], &bytes[b + 2..]),
        (Some(a), _) => (&bytes[..a], &bytes[a + 4..]),
        (None, Some(b)) => (&bytes[..b], &bytes[b + 2..]),
        (None, None) => (bytes, &[][..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| "the HTTP headers are not UTF-8 text")?;
    let mut headers = HeaderMap::new();
    for (i, line) in head.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || (i == 0 && is_start_line(line)) {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "line {}: {line:?} is not an HTTP header (expected `name: value`; \
                 an event file is structured JSON or an HTTP request dump)",
                i + 1
            )
        })?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("line {}: invalid header name {:?}", i + 1, name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("line {}: invalid value for header {name}", i + 1))?;
        headers.append(name, value);
    }
    let mut body = body;
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        && len <= body.len()
    {
        body = &body[..len];
    }
    Ok((headers, Bytes::copy_from_slice(body)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dumps_with_and_without_request_line() {
        for dump in [
            "POST /default/default HTTP/1.1\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\ncontent-length: 2\r\n\r\nhi\n",
            "ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\n\nhi",
        ] {
            let (headers, body) = parse_dump(dump.as_bytes()).unwrap();
            assert_eq!(body.as_ref(), b"hi");
            let (_, evs) = herald_ce::decode_http(&headers, body).unwrap();
            assert_eq!(evs[0].ty, "t");
        }
        assert!(parse_dump(b"hello world\nnot a header").is_err());
    }
}
