//! The CLI commands that talk to a running Herald: `apply`, `get`, `delete`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use herald_api::Registry;
use herald_api::registry::{Resource, ServedVersion};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cli::{ApplyArgs, Cli, Command, DeleteArgs, GetArgs, Output};
use crate::client::{ACCEPT_TABLE, ApiClient};
use crate::manifest;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(args).await.map(|_| ExitCode::SUCCESS),
        Command::Apply(args) => apply(args).await,
        Command::Get(args) => get(args).await,
        Command::Delete(args) => delete(args).await,
        Command::Kubeconfig(args) => crate::kubeconfig::run(args).map(|_| ExitCode::SUCCESS),
        Command::Send(args) => crate::events::send(args).await,
        Command::Tail(args) => crate::events::tail(args).await,
        Command::Eval(args) => Ok(crate::eval::run(args)),
        Command::Run(args) => crate::run::run(args).await,
        Command::Logs(args) => crate::logs::run(args).await,
    }
}

/// The URL path of a collection (`/apis/g/v/namespaces/ns/plural`).
pub fn collection_path(r: &Resource, v: &ServedVersion, namespace: Option<&str>) -> String {
    let prefix = if v.group.is_empty() {
        format!("/api/{}", v.version)
    } else {
        format!("/apis/{}/{}", v.group, v.version)
    };
    match namespace {
        Some(ns) if r.namespaced => format!("{prefix}/namespaces/{ns}/{}", v.plural),
        _ => format!("{prefix}/{}", v.plural),
    }
}

/// `broker.eventing.knative.dev` style name used in messages, as kubectl prints it.
fn display_name(v: &ServedVersion) -> String {
    if v.group.is_empty() {
        v.singular.to_string()
    } else {
        format!("{}.{}", v.singular, v.group)
    }
}

/// Resolves what a user typed (`brokers`, `broker`, `Broker`, `imc`, `brokers.eventing.knative.dev`)
/// to an endpoint, preferring each resource's storage version.
pub fn resolve_kind<'a>(
    registry: &'a Registry,
    typed: &str,
) -> Option<(&'a Resource, &'a ServedVersion)> {
    let lower = typed.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    let matches = |v: &ServedVersion| {
        (v.plural == name
            || v.singular == name
            || v.kind.to_ascii_lowercase() == name
            || v.short_names.contains(&name.as_str()))
            && group
                .as_deref()
                .is_none_or(|g| v.group == g || format!("{}.{}", v.version, v.group) == g)
    };
    // Storage versions first, so `brokers` means eventing.knative.dev/v1.
    registry
        .resources()
        .iter()
        .find_map(|r| matches(r.storage()).then(|| (r, r.storage())))
        .or_else(|| registry.endpoints().find(|(_, v)| matches(v)))
}

async fn apply(args: ApplyArgs) -> Result<ExitCode> {
    let registry = Registry::new();
    let client = ApiClient::new(&args.server)?;
    let objects = manifest::read_all(&args.files)?;
    let mut failed = false;
    for m in objects {
        let api_version = m.object["apiVersion"].as_str().unwrap_or_default();
        let kind = m.object["kind"].as_str().unwrap_or_default();
        let Some((res, ver)) = registry.lookup_kind(api_version, kind) else {
            eprintln!(
                "error: {}: no kind \"{kind}\" is registered for version \"{api_version}\"",
                m.origin
            );
            failed = true;
            continue;
        };
        let name = m.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = m.object["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .or_else(|| args.namespace.clone())
            .unwrap_or_else(|| "default".into());
        let mut object = m.object.clone();
        if res.namespaced {
            object["metadata"]["namespace"] = Value::String(ns.clone());
        }
        let path = format!("{}/{name}", collection_path(res, ver, Some(&ns)));
        let before = client
            .request(Method::GET, &path, None, "application/json", None)
            .await?;
        let body = serde_json::to_vec(&object)?;
        let query = "?fieldManager=herald&force=true";
        match client
            .call(
                Method::PATCH,
                &format!("{path}{query}"),
                Some("application/apply-patch+yaml"),
                "application/json",
                Some(body),
            )
            .await
        {
            Ok((status, after)) => {
                let verb = if status == StatusCode::CREATED || before.0 == StatusCode::NOT_FOUND {
                    "created"
                } else if before.1["metadata"]["resourceVersion"]
                    == after["metadata"]["resourceVersion"]
                {
                    "unchanged"
                } else {
                    "configured"
                };
                println!("{}/{name} {verb}", display_name(ver));
            }
            Err(e) => {
                eprintln!("error: {}: {}/{name}: {e}", m.origin, display_name(ver));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn get(args: GetArgs) -> Result<ExitCode> {
    let registry = Registry::new();
    let client = ApiClient::new(&args.server)?;
    let kinds: Vec<&str> = args.kind.split(',').filter(|k| !k.is_empty()).collect();
    let many = kinds.len() > 1;
    for (i, typed) in kinds.iter().enumerate() {
        let Some((res, ver)) = resolve_kind(&registry, typed) else {
            bail!("the server doesn't have a resource type \"{typed}\"");
        };
        let ns = (!args.all_namespaces).then_some(args.namespace.as_str());
        let mut path = collection_path(res, ver, ns);
        if let Some(n) = &args.name {
            path = format!("{path}/{n}");
        }
        if let Some(sel) = &args.selector {
            path = format!("{path}?labelSelector={}", encode_query(sel));
        }
        match args.output {
            Output::Json | Output::Yaml => {
                let (_, v) = client
                    .call(Method::GET, &path, None, "application/json", None)
                    .await?;
                if matches!(args.output, Output::Json) {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    print!(
                        "{}",
                        serde_saphyr::to_string(&v).map_err(|e| anyhow::anyhow!("{e}"))?
                    );
                }
            }
            Output::Name => {
                let (_, v) = client
                    .call(Method::GET, &path, None, "application/json", None)
                    .await?;
                let items = if args.name.is_some() {
                    vec![v]
                } else {
                    v["items"].as_array().cloned().unwrap_or_default()
                };
                for item in items {
                    println!(
                        "{}/{}",
                        display_name(ver),
                        item["metadata"]["name"].as_str().unwrap_or_default()
                    );
                }
            }
            Output::Table | Output::Wide => {
                let (_, table) = client
                    .call(Method::GET, &path, None, ACCEPT_TABLE, None)
                    .await?;
                if many && i > 0 {
                    println!();
                }
                let text = render_table(
                    &table,
                    matches!(args.output, Output::Wide),
                    args.all_namespaces,
                    many.then(|| display_name(ver)),
                );
                if text.is_empty() {
                    match ns {
                        Some(ns) => eprintln!("No resources found in {ns} namespace."),
                        None => eprintln!("No resources found"),
                    }
                } else {
                    print!("{text}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders a `meta.k8s.io/v1` Table the way kubectl prints it.
pub fn render_table(
    table: &Value,
    wide: bool,
    with_namespace: bool,
    prefix: Option<String>,
) -> String {
    let columns: Vec<(usize, String)> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, c)| {
            (
                i,
                c["name"].as_str().unwrap_or_default().to_ascii_uppercase(),
            )
        })
        .collect();
    let rows = table["rows"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return String::new();
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = columns.iter().map(|(_, n)| n.clone()).collect();
    if with_namespace {
        header.insert(0, "NAMESPACE".into());
    }
    lines.push(header);
    for row in &rows {
        let cells = row["cells"].as_array().cloned().unwrap_or_default();
        let mut line: Vec<String> = columns
            .iter()
            .map(|(i, _)| match cells.get(*i) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "<none>".into(),
                Some(v) => v.to_string(),
            })
            .collect();
        if let (Some(p), Some(first)) = (&prefix, line.first_mut()) {
            *first = format!("{p}/{first}");
        }
        if with_namespace {
            line.insert(
                0,
                row["object"]["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in lines {
        let mut s = String::new();
        for (c, cell) in l.iter().enumerate() {
            if c + 1 == l.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn delete(args: DeleteArgs) -> Result<ExitCode> {
    let registry = Registry::new();
    let client = ApiClient::new(&args.server)?;
    let mut targets: Vec<(String, String, String)> = Vec::new(); // (path, display, name)
    for m in manifest::read_all(&args.files)? {
        let api_version = m.object["apiVersion"].as_str().unwrap_or_default();
        let kind = m.object["kind"].as_str().unwrap_or_default();
        let Some((res, ver)) = registry.lookup_kind(api_version, kind) else {
            bail!(
                "{}: no kind \"{kind}\" is registered for version \"{api_version}\"",
                m.origin
            );
        };
        let name = m.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = m.object["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .or_else(|| args.namespace.clone())
            .unwrap_or_else(|| "default".into());
        targets.push((
            format!("{}/{name}", collection_path(res, ver, Some(&ns))),
            display_name(ver),
            name,
        ));
    }
    if let Some((typed, names)) = args.args.split_first() {
        let Some((res, ver)) = resolve_kind(&registry, typed) else {
            bail!("the server doesn't have a resource type \"{typed}\"");
        };
        if names.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
        let ns = args.namespace.clone().unwrap_or_else(|| "default".into());
        for n in names {
            targets.push((
                format!("{}/{n}", collection_path(res, ver, Some(&ns))),
                display_name(ver),
                n.clone(),
            ));
        }
    }
    if targets.is_empty() {
        bail!("you must provide one or more resources by argument or filename");
    }
    let mut failed = false;
    for (path, display, name) in targets {
        match client
            .request(Method::DELETE, &path, None, "application/json", None)
            .await?
        {
            (s, _) if s.is_success() => println!("{display} \"{name}\" deleted"),
            (StatusCode::NOT_FOUND, _) if args.ignore_not_found => {}
            (_, v) => {
                eprintln!(
                    "error: {}",
                    v["message"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                );
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_renders_like_kubectl() {
        let t = json!({"columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0}, {"name": "Wide", "priority": 1}],
                       "rows": [{"cells": ["default", "True", "x"], "object": {"metadata": {"namespace": "ns"}}}]});
        assert_eq!(
            render_table(&t, false, false, None),
            "NAME      READY\ndefault   True\n"
        );
        assert_eq!(
            render_table(&t, false, true, None),
            "NAMESPACE   NAME      READY\nns          default   True\n"
        );
        assert_eq!(encode_query("a=b,c"), "a%3Db%2Cc");
    }
}
