//! `herald send` and `herald tail`: the event side of the CLI. Both find a Broker's address
//! through the API (`status.address.url`), as a Knative user would with kubectl.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use herald_ce::{AttrValue, Data, Event, SpecVersion};
use reqwest::Method;
use serde_json::Value;

use crate::cli::{SendArgs, ServerArgs, TailArgs, TailOutput};
use crate::client::ApiClient;

/// The ingress address of a Broker, from its status.
async fn broker_url(server: &ServerArgs, namespace: &str, name: &str) -> Result<String> {
    let api = ApiClient::new(server)?;
    let path = format!("/apis/eventing.knative.dev/v1/namespaces/{namespace}/brokers/{name}");
    let (_, broker) = api
        .call(Method::GET, &path, None, "application/json", None)
        .await
        .with_context(|| format!("looking up broker {namespace}/{name}"))?;
    match broker
        .pointer("/status/address/url")
        .and_then(Value::as_str)
    {
        Some(url) if !url.is_empty() => Ok(url.to_string()),
        _ => bail!(
            "broker {namespace}/{name} has no address yet (see `kubectl get broker {name} -n {namespace}`)"
        ),
    }
}

fn event_of(args: &SendArgs) -> Result<Event> {
    let data = match (&args.data, &args.data_file) {
        (Some(d), _) => Some(d.clone().into_bytes()),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading data from standard input")?;
            Some(buf)
        }
        (None, Some(p)) => {
            Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)
        }
        (None, None) => None,
    };
    let mut extensions = std::collections::BTreeMap::new();
    for ext in &args.extensions {
        let Some((name, value)) = ext.split_once('=') else {
            bail!("--ext {ext:?}: expected NAME=VALUE");
        };
        extensions.insert(name.to_string(), AttrValue::String(value.to_string()));
    }
    let datacontenttype = match (&args.content_type, &data) {
        (Some(ct), _) => Some(ct.clone()),
        (None, Some(_)) => Some("application/json".to_string()),
        (None, None) => None,
    };
    let event = Event {
        specversion: SpecVersion::V10,
        id: args
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        source: args.source.clone(),
        ty: args.ty.clone(),
        datacontenttype,
        dataschema: None,
        subject: args.subject.clone(),
        time: Some(jiff::Timestamp::now().to_string()),
        extensions,
        data: data.map(|d| Data::Binary(bytes::Bytes::from(d))),
    };
    event
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid event: {e}"))?;
    Ok(event)
}

pub async fn send(args: SendArgs) -> Result<ExitCode> {
    let event = event_of(&args)?;
    let url = match (&args.to, &args.broker) {
        (Some(to), _) => to.clone(),
        (None, Some(b)) => broker_url(&args.server, &args.namespace, b).await?,
        (None, None) => bail!("name a broker or give --to URL"),
    };
    let (headers, body) = if args.structured {
        herald_ce::encode_structured(&event)
    } else {
        herald_ce::encode_binary(&event)
    };
    let resp = reqwest::Client::new()
        .post(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{status}: event {} sent to {url}", event.id);
        if !text.trim().is_empty() {
            println!("{}", text.trim_end());
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {url} answered {status}: {}", text.trim_end());
        Ok(ExitCode::FAILURE)
    }
}

pub async fn tail(args: TailArgs) -> Result<ExitCode> {
    let url = broker_url(&args.server, &args.namespace, &args.broker).await?;
    let base = url
        .strip_suffix(&format!("/{}/{}", args.namespace, args.broker))
        .unwrap_or(&url)
        .to_string();
    let tail_url = format!("{base}/_herald/tail/{}/{}", args.namespace, args.broker);
    let mut resp = reqwest::Client::new()
        .get(&tail_url)
        .send()
        .await
        .with_context(|| format!("cannot reach {tail_url}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!(
            "{tail_url} answered {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }
    let mut pending = Vec::new();
    let mut seen = 0usize;
    let mut out = std::io::stdout();
    while let Some(chunk) = resp.chunk().await.context("reading the event stream")? {
        pending.extend_from_slice(&chunk);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            let line = &line[..line.len() - 1];
            if line.is_empty() {
                // The server's "attached" line: events sent from now on will be shown.
                eprintln!(
                    "following broker {}/{} (Ctrl-C to stop)",
                    args.namespace, args.broker
                );
                continue;
            }
            match args.output {
                TailOutput::Json => {
                    out.write_all(line)?;
                    out.write_all(b"\n")?;
                }
                TailOutput::Short => {
                    let v: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
                    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
                    writeln!(
                        out,
                        "{} {} {} {}",
                        s("knativearrivaltime"),
                        s("type"),
                        s("source"),
                        s("id")
                    )?;
                }
            }
            out.flush()?;
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
