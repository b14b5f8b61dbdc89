//! The event registry, black-box with real kubectl (reference `knative-eventing.md` §6.5 EventType
//! auto-creation, §6.6 printer columns, and the seeds' registry section): EventTypes registered
//! by hand in each served version, by sources whose sink is a reference, and by traffic.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::Herald;
use common::broker::{Client, READY, apply, assert_202, post_binary};
use common::sink::{Reply, Sink};
use serde_json::{Value, json};

/// Generous: registry writes happen on a flush interval, on a loaded 2-core machine.
const LONG: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns `Some`, or panics with the last value seen.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + LONG;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: gave up after {LONG:?}; last saw: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn apply_yaml(h: &Herald, yaml: &str) -> String {
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(
        out.status.success(),
        "kubectl apply failed:\n{yaml}\n{}\n{}\nherald log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The EventTypes of `ns` (v1beta3, the storage version), optionally by label selector.
fn event_types(h: &Herald, ns: &str, selector: Option<&str>) -> Vec<Value> {
    let mut args = vec!["get", "eventtypes", "-n", ns, "-o", "json"];
    if let Some(s) = selector {
        args.extend(["-l", s]);
    }
    let list: Value = serde_json::from_str(&h.kubectl_ok(&args)).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

fn attr<'a>(et: &'a Value, name: &str) -> Option<&'a str> {
    et["spec"]["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)?["value"]
        .as_str()
}

/// (type, source) of each EventType, sorted.
fn pairs(ets: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ets
        .iter()
        .map(|et| {
            (
                attr(et, "type").unwrap_or("").to_string(),
                attr(et, "source").unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Waits until the EventTypes matching `selector` in `ns` are exactly `want` (type, source).
fn wait_pairs(h: &Herald, ns: &str, selector: &str, want: &[(&str, &str)]) -> Vec<Value> {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(t, s)| (t.to_string(), s.to_string()))
        .collect();
    want.sort();
    wait_for(&format!("EventTypes {selector} in {ns}"), || {
        let ets = event_types(h, ns, Some(selector));
        let got = pairs(&ets);
        if got == want {
            Ok(ets)
        } else {
            Err(format!("{got:?}, wanted {want:?}"))
        }
    })
}

fn namespace(name: &str, auto_create: Option<&str>) -> Value {
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    if let Some(v) = auto_create {
        ns["metadata"]["annotations"] = json!({"herald.dev/eventtype-auto-create": v});
    }
    ns
}

fn broker_in(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
           "metadata": {"name": name, "namespace": ns}, "spec": {}})
}

/// Columns of a `kubectl get` table, split on runs of two or more spaces.
fn columns(line: &str) -> Vec<String> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The table row whose first column is `name`.
fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .map(columns)
        .find(|c| c.first().map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
}

fn condition(et: &Value, ty: &str) -> (String, String) {
    let c = et["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty).cloned())
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Manual registration (§6.5.3 ReferenceExists, §6.6 columns)

const MANUAL: &str = r#"
apiVersion: eventing.knative.dev/v1beta3
kind: EventType
metadata:
  name: order-created
  namespace: reg
spec:
  reference:
    apiVersion: eventing.knative.dev/v1
    kind: Broker
    name: default
  description: An order was placed
  attributes:
    - {name: type, required: true, value: com.example.order.created}
    - {name: source, required: true, value: https://shop.example.com/orders}
    - {name: specversion, required: true, value: "1.0"}
    - {name: id, required: true}
---
apiVersion: eventing.knative.dev/v1beta2
kind: EventType
metadata:
  name: dev.knative.source.github.push-34cnb
  namespace: reg
  labels:
    eventing.knative.dev/sourceName: github-sample
spec:
  type: dev.knative.source.github.push
  source: https://github.com/knative/eventing
  schema: https://github.com/knative/eventing/schemas/push.json
  description: Push events
  reference:
    apiVersion: eventing.knative.dev/v1
    kind: Broker
    name: default
---
apiVersion: eventing.knative.dev/v1beta1
kind: EventType
metadata:
  name: dev.knative.source.github.pullrequest-55wcn
  namespace: reg
spec:
  type: dev.knative.source.github.pull_request
  source: https://github.com/knative/eventing
  broker: default
---
apiVersion: eventing.knative.dev/v1beta3
kind: EventType
metadata:
  name: orphan
  namespace: reg
spec:
  reference:
    apiVersion: eventing.knative.dev/v1
    kind: Broker
    name: missing
  attributes:
    - {name: type, required: true, value: com.example.orphan}
    - {name: source, required: true, value: /nowhere}
    - {name: specversion, required: true, value: "1.0"}
    - {name: id, required: true}
---
apiVersion: eventing.knative.dev/v1beta3
kind: EventType
metadata:
  name: unbound
  namespace: reg
spec:
  attributes:
    - {name: type, required: true, value: com.example.unbound}
    - {name: source, required: true, value: /anywhere}
    - {name: specversion, required: true, value: "1.0"}
    - {name: id, required: true}
"#;

/// The seeds' `kubectl apply -f <event_type.yaml>` and `kubectl get eventtypes -n <namespace>`:
/// EventTypes in v1beta3, v1beta2 (Knative docs shape) and v1beta1 (`broker:`) are accepted,
/// listed with Knative's v1beta3 columns (§6.6), read back in each version's shape, and get
/// `ReferenceExists` (§6.5.3).
#[test]
fn manual_registration_in_every_version() {
    let h = Herald::start();
    apply(&h, &[namespace("reg", None), broker_in("reg", "default")]);
    apply_yaml(&h, MANUAL);

    // §6.5.3: the reference decides ReferenceExists.
    for (name, want) in [
        ("order-created", ("True", "")),
        ("dev.knative.source.github.push-34cnb", ("True", "")),
        ("dev.knative.source.github.pullrequest-55wcn", ("True", "")),
        ("orphan", ("False", "ResourceDoesNotExist")),
        ("unbound", ("True", "ReferenceNotSet")),
    ] {
        wait_for(&format!("{name} ReferenceExists"), || {
            let et: Value = serde_json::from_str(&h.kubectl_ok(&[
                "get",
                "eventtype",
                name,
                "-n",
                "reg",
                "-o",
                "json",
            ]))
            .unwrap();
            let got = condition(&et, "ReferenceExists");
            if (got.0.as_str(), got.1.as_str()) == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
    }
    h.wait_jsonpath(&["eventtype", "orphan", "-n", "reg"], READY, "False");
    h.wait_jsonpath(&["eventtype", "unbound", "-n", "reg"], READY, "True");
    h.wait_jsonpath(&["eventtype", "order-created", "-n", "reg"], READY, "True");

    // §6.6: the v1beta3 columns are what `kubectl get eventtypes` shows.
    let table = h.kubectl_ok(&["get", "eventtypes", "-n", "reg"]);
    let header = table.lines().next().unwrap_or("");
    assert_eq!(
        columns(header),
        [
            "NAME",
            "TYPE",
            "SOURCE",
            "REFERENCE NAME",
            "REFERENCE KIND",
            "DESCRIPTION",
            "READY",
            "REASON"
        ],
        "{table}"
    );
    assert_eq!(
        row(&table, "order-created"),
        [
            "order-created",
            "com.example.order.created",
            "https://shop.example.com/orders",
            "default",
            "Broker",
            "An order was placed",
            "True"
        ],
        "{table}"
    );
    assert_eq!(
        row(&table, "dev.knative.source.github.pullrequest-55wcn"),
        [
            "dev.knative.source.github.pullrequest-55wcn",
            "dev.knative.source.github.pull_request",
            "https://github.com/knative/eventing",
            "default",
            "Broker",
            "True"
        ],
        "{table}"
    );
    let orphan = row(&table, "orphan");
    assert_eq!(
        orphan[1..5],
        ["com.example.orphan", "/nowhere", "missing", "Broker"]
    );
    assert_eq!(orphan[5..], ["False", "ResourceDoesNotExist"], "{table}");
    assert_eq!(table.lines().count(), 6, "{table}");

    // Herald's wide columns: traffic (none yet).
    let wide = h.kubectl_ok(&["get", "eventtypes", "-n", "reg", "-o", "wide"]);
    let header = columns(wide.lines().next().unwrap_or(""));
    assert_eq!(
        header[header.len() - 2..],
        ["LAST SEEN", "EVENTS"],
        "{wide}"
    );
    assert_eq!(header.len(), 10, "{wide}");

    // The v1beta2 object converted from storage, and the storage (v1beta3) form.
    let v2: Value = serde_json::from_str(&h.kubectl_ok(&[
        "get",
        "eventtypes.v1beta2.eventing.knative.dev",
        "dev.knative.source.github.push-34cnb",
        "-n",
        "reg",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v2["apiVersion"], "eventing.knative.dev/v1beta2");
    assert_eq!(
        v2["spec"],
        json!({
            "type": "dev.knative.source.github.push",
            "source": "https://github.com/knative/eventing",
            "schema": "https://github.com/knative/eventing/schemas/push.json",
            "description": "Push events",
            "reference": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"},
        })
    );
    let yaml = h.kubectl_ok(&[
        "get",
        "eventtypes.v1beta2.eventing.knative.dev",
        "dev.knative.source.github.push-34cnb",
        "-n",
        "reg",
        "-o",
        "yaml",
    ]);
    assert!(
        yaml.contains("apiVersion: eventing.knative.dev/v1beta2")
            && yaml.contains("  type: dev.knative.source.github.push\n"),
        "{yaml}"
    );
    let v3: Value = serde_json::from_str(&h.kubectl_ok(&[
        "get",
        "eventtypes.v1beta3.eventing.knative.dev",
        "dev.knative.source.github.push-34cnb",
        "-n",
        "reg",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v3["apiVersion"], "eventing.knative.dev/v1beta3");
    assert_eq!(attr(&v3, "type"), Some("dev.knative.source.github.push"));
    assert_eq!(
        attr(&v3, "source"),
        Some("https://github.com/knative/eventing")
    );
    assert!(v3["spec"].get("type").is_none(), "{v3}");

    // The v1beta1 object keeps its `broker:` field; v1beta3 shows it as a reference.
    let v1: Value = serde_json::from_str(&h.kubectl_ok(&[
        "get",
        "eventtypes.v1beta1.eventing.knative.dev",
        "dev.knative.source.github.pullrequest-55wcn",
        "-n",
        "reg",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v1["spec"]["broker"], "default", "{v1}");
    assert_eq!(v1["spec"]["type"], "dev.knative.source.github.pull_request");
    let v3: Value = serde_json::from_str(&h.kubectl_ok(&[
        "get",
        "eventtype",
        "dev.knative.source.github.pullrequest-55wcn",
        "-n",
        "reg",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v3["spec"]["reference"]["kind"], "Broker", "{v3}");
    assert_eq!(v3["spec"]["reference"]["name"], "default", "{v3}");

    // Creating the missing Broker turns the orphan Ready.
    apply(&h, &[broker_in("reg", "missing")]);
    h.wait_jsonpath(&["eventtype", "orphan", "-n", "reg"], READY, "True");
}

// ---------------------------------------------------------------------------------------------
// 2. Registration by sources (§6.5.2: every source with `spec.sink.ref` and `status.ceAttributes`)

const KAFKA_LABEL: &str = "eventing.knative.dev/sourceName=kafka-sample";
const KAFKA_TYPE: &str = "dev.knative.kafka.event";
const KAFKA_SOURCE: &str = "/apis/v1/namespaces/default/kafkasources/kafka-sample";

/// The seeds' KafkaSource example, verbatim: two EventTypes (one per topic) referencing the
/// Broker; the seeds' `kubectl get eventtype <name> -o yaml` finds them by name; changing the
/// topics replaces one, a `uri` sink removes them, deleting the source deletes them.
#[test]
fn seeds_kafka_source_registers_one_type_per_topic() {
    let h = Herald::start();
    h.kubectl_ok(&["apply", "-f", &common::data("seeds/broker.yaml")]);
    h.kubectl_ok(&["apply", "-f", &common::data("seeds/kafkasource.yaml")]);

    let ets = wait_pairs(
        &h,
        "default",
        KAFKA_LABEL,
        &[
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#knative-demo")),
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#news")),
        ],
    );
    let source_uid = h.kubectl_ok(&[
        "get",
        "kafkasource",
        "kafka-sample",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for et in &ets {
        let name = et["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("dev.knative.kafka.event-"), "{name}");
        assert_eq!(et["spec"]["reference"]["kind"], "Broker", "{et}");
        assert_eq!(et["spec"]["reference"]["name"], "default", "{et}");
        assert_eq!(et["metadata"]["ownerReferences"][0]["kind"], "KafkaSource");
        assert_eq!(et["metadata"]["ownerReferences"][0]["uid"], source_uid);
        // The seeds' lookup by name.
        let yaml = h.kubectl_ok(&["get", "eventtype", name, "-o", "yaml"]);
        assert!(
            yaml.contains("value: dev.knative.kafka.event") && yaml.contains("kind: Broker"),
            "{yaml}"
        );
        h.wait_jsonpath(&["eventtype", name], READY, "True");
    }

    // Topics `news,sports`: the knative-demo type goes, sports comes, news stays.
    let news_before = ets
        .iter()
        .find(|et| attr(et, "source") == Some(&format!("{KAFKA_SOURCE}#news")))
        .map(|et| et["metadata"]["name"].clone())
        .unwrap();
    let seed = std::fs::read_to_string(common::data("seeds/kafkasource.yaml")).unwrap();
    apply_yaml(
        &h,
        &seed.replace("topics: knative-demo,news", "topics: news,sports"),
    );
    let ets = wait_pairs(
        &h,
        "default",
        KAFKA_LABEL,
        &[
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#news")),
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#sports")),
        ],
    );
    assert!(
        ets.iter().any(|et| et["metadata"]["name"] == news_before),
        "the unchanged topic keeps its EventType: {news_before} not in {ets:?}"
    );

    // A `uri` sink registers nothing (§6.5.2: only `sink.ref`). The seed's v1alpha1 sink is an
    // object reference without `uri`, so switch through the current version.
    h.kubectl_ok(&[
        "patch",
        "kafkasources.v1.sources.knative.dev",
        "kafka-sample",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"sink":{"ref":null,"uri":"http://example.com/events"}}}"#,
    ]);
    wait_pairs(&h, "default", KAFKA_LABEL, &[]);

    // Back to the Broker, then delete the source: its EventTypes go with it.
    h.kubectl_ok(&[
        "patch",
        "kafkasources.v1.sources.knative.dev",
        "kafka-sample",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"sink":{"uri":null,"ref":{"apiVersion":"eventing.knative.dev/v1","kind":"Broker","name":"default"}}}}"#,
    ]);
    wait_pairs(
        &h,
        "default",
        KAFKA_LABEL,
        &[
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#news")),
            (KAFKA_TYPE, &format!("{KAFKA_SOURCE}#sports")),
        ],
    );
    h.kubectl_ok(&["delete", "-f", &common::data("seeds/kafkasource.yaml")]);
    wait_pairs(&h, "default", KAFKA_LABEL, &[]);
    assert!(event_types(&h, "default", None).is_empty());
}

fn broker_ref() -> Value {
    json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}})
}

fn secret_ref(key: &str) -> Value {
    json!({"secretKeyRef": {"name": "hooks", "key": key}})
}

/// PingSource, ApiServerSource (Reference mode), GitHubSource and GitLabSource with a Broker
/// sink register the types in their `status.ceAttributes` (§6.5.2, §7).
#[test]
fn sources_register_their_types() {
    let h = Herald::start();
    apply(
        &h,
        &[
            broker_in("default", "default"),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hooks"},
                   "stringData": {"secretToken": "s3cret", "accessToken": "unused"}}),
            json!({"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
                   "metadata": {"name": "heartbeat"},
                   "spec": {"schedule": "0 0 1 1 *", "data": "{}", "sink": broker_ref()}}),
            json!({"apiVersion": "sources.knative.dev/v1", "kind": "ApiServerSource",
                   "metadata": {"name": "watcher"},
                   "spec": {"mode": "Reference", "serviceAccountName": "default",
                            "resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                            "sink": broker_ref()}}),
            json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "GitHubSource",
                   "metadata": {"name": "github-sample"},
                   "spec": {"ownerAndRepository": "knative/eventing",
                            "eventTypes": ["push", "pull_request"],
                            "accessToken": secret_ref("accessToken"),
                            "secretToken": secret_ref("secretToken"),
                            "sink": broker_ref()}}),
            json!({"apiVersion": "sources.knative.dev/v1alpha1", "kind": "GitLabSource",
                   "metadata": {"name": "gitlab-sample"},
                   "spec": {"projectUrl": "https://gitlab.com/knative/eventing",
                            "eventTypes": ["push_events", "merge_requests_events"],
                            "accessToken": secret_ref("accessToken"),
                            "secretToken": secret_ref("secretToken"),
                            "sink": broker_ref()}}),
        ],
    );
    let label = |s: &str| format!("eventing.knative.dev/sourceName={s}");
    wait_pairs(
        &h,
        "default",
        &label("heartbeat"),
        &[(
            "dev.knative.sources.ping",
            "/apis/v1/namespaces/default/pingsources/heartbeat",
        )],
    );
    // Knative names the Kubernetes API server; Herald's API server is Herald.
    let api = h.api.as_str();
    wait_pairs(
        &h,
        "default",
        &label("watcher"),
        &[
            ("dev.knative.apiserver.ref.add", api),
            ("dev.knative.apiserver.ref.update", api),
            ("dev.knative.apiserver.ref.delete", api),
        ],
    );
    let gh = "https://github.com/knative/eventing";
    let github = wait_pairs(
        &h,
        "default",
        &label("github-sample"),
        &[
            ("dev.knative.source.github.push", gh),
            ("dev.knative.source.github.pull_request", gh),
        ],
    );
    let gl = "https://gitlab.com/knative/eventing";
    wait_pairs(
        &h,
        "default",
        &label("gitlab-sample"),
        &[
            ("dev.knative.sources.gitlab.push", gl),
            ("dev.knative.sources.gitlab.merge_request", gl),
        ],
    );
    // The seeds' `kubectl get eventtype dev.knative.source.github.push-xxx -o yaml`.
    let push = github
        .iter()
        .find(|et| attr(et, "type") == Some("dev.knative.source.github.push"))
        .and_then(|et| et["metadata"]["name"].as_str())
        .unwrap()
        .to_string();
    assert!(
        push.starts_with("dev.knative.source.github.push-"),
        "{push}"
    );
    let yaml = h.kubectl_ok(&["get", "eventtype", &push, "-o", "yaml"]);
    assert!(
        yaml.contains("eventing.knative.dev/sourceName: github-sample")
            && yaml.contains("value: https://github.com/knative/eventing")
            && yaml.contains("kind: GitHubSource"),
        "{yaml}"
    );
    assert_eq!(event_types(&h, "default", None).len(), 8);
}

// ---------------------------------------------------------------------------------------------
// 3. Registration by traffic (§6.5.1) and Herald's lastSeen/eventCount

const AUTO: &str = "herald.dev/auto-created=true";

/// Starts Herald with extra flags on a fresh data directory (kept alive by the returned guard).
fn start_with(flags: &[&str]) -> (Herald, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start_with(&dir.path().join("data"), flags);
    (h, dir)
}

fn ingress_url(h: &Herald, ns: &str, broker: &str) -> String {
    format!("{}/{ns}/{broker}", h.ingress)
}

/// One EventType's `status.eventCount` (0 when unset).
fn event_count(et: &Value) -> u64 {
    et["status"]["eventCount"].as_u64().unwrap_or(0)
}

/// Waits until the EventType `name` in `ns` has counted exactly `n` events; returns it.
fn wait_count(h: &Herald, ns: &str, name: &str, n: u64) -> Value {
    wait_for(&format!("{ns}/{name} eventCount {n}"), || {
        let et: Value = serde_json::from_str(&h.kubectl_ok(&[
            "get",
            "eventtype",
            name,
            "-n",
            ns,
            "-o",
            "json",
        ]))
        .unwrap();
        if event_count(&et) == n {
            Ok(et)
        } else {
            Err(et["status"].to_string())
        }
    })
}

/// A counter's value in `<ingress>/_herald/metrics`.
fn metric(c: &Client, h: &Herald, name: &str) -> u64 {
    let r = c.send("GET", &format!("{}/_herald/metrics", h.ingress), &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{}", r.body))
}

/// Checks that `et` carries an RFC 3339 UTC `lastSeen`.
fn assert_last_seen(et: &Value) {
    let last = et["status"]["lastSeen"].as_str().unwrap_or("");
    assert!(
        last.len() >= 20 && last.starts_with("20") && last.ends_with('Z'),
        "lastSeen {last:?} in {et}"
    );
}

/// §6.5.1 in a namespace annotated `herald.dev/eventtype-auto-create: enabled`: events accepted
/// by the Broker auto-create EventTypes (reference = the Broker, owned by it), replies of a
/// Trigger's subscriber too, and every EventType counts its events. A namespace without the
/// annotation creates none, but its manually registered EventType still counts.
#[test]
fn traffic_registers_types_and_counts_events() {
    let sink = Sink::start();
    sink.fallback(
        "/t",
        Reply::status(200)
            .header("ce-specversion", "1.0")
            .header("ce-id", "confirmation")
            .header("ce-source", "/replier")
            .header("ce-type", "com.example.order.confirmed")
            .header("content-type", "application/json")
            .body(br#"{"confirmed":true}"#),
    );
    let (h, _dir) = start_with(&["--eventtype-flush-ms", "200"]);
    apply(
        &h,
        &[
            namespace("shop", Some("enabled")),
            namespace("quiet", None),
            broker_in("shop", "default"),
            broker_in("quiet", "default"),
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                   "metadata": {"name": "orders", "namespace": "shop"},
                   "spec": {"broker": "default",
                            "filter": {"attributes": {"type": "com.example.order.placed"}},
                            "subscriber": {"uri": sink.at("/t")}}}),
            json!({"apiVersion": "eventing.knative.dev/v1beta3", "kind": "EventType",
                   "metadata": {"name": "known", "namespace": "quiet"},
                   "spec": {"reference": {"apiVersion": "eventing.knative.dev/v1",
                                          "kind": "Broker", "name": "default"},
                            "attributes": [
                                {"name": "type", "required": true, "value": "com.example.known"},
                                {"name": "source", "required": true, "value": "/herald/tests"},
                                {"name": "specversion", "required": true, "value": "1.0"},
                                {"name": "id", "required": true}]}}),
        ],
    );
    for ns in ["shop", "quiet"] {
        h.wait_jsonpath(&["broker", "default", "-n", ns], READY, "True");
    }
    h.wait_jsonpath(&["trigger", "orders", "-n", "shop"], READY, "True");
    assert!(event_types(&h, "shop", None).is_empty());

    let c = Client::new();
    for i in 0..5 {
        let r = post_binary(
            &c,
            &ingress_url(&h, "shop", "default"),
            &format!("order-{i}"),
            "com.example.order.placed",
            &[],
            b"{}",
        );
        assert_202(&r, "shop");
    }
    for (i, ty) in [
        "com.example.known",
        "com.example.unknown",
        "com.example.known",
        "com.example.unknown",
        "com.example.known",
    ]
    .iter()
    .enumerate()
    {
        let r = post_binary(
            &c,
            &ingress_url(&h, "quiet", "default"),
            &format!("q-{i}"),
            ty,
            &[],
            b"{}",
        );
        assert_202(&r, "quiet");
    }
    sink.wait_for("/t", 5, LONG);

    // The posted type and the subscriber's reply, both under the Broker.
    let ets = wait_pairs(
        &h,
        "shop",
        AUTO,
        &[
            ("com.example.order.confirmed", "/replier"),
            ("com.example.order.placed", "/herald/tests"),
        ],
    );
    let broker_uid = h.kubectl_ok(&[
        "get",
        "broker",
        "default",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for et in &ets {
        let name = et["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("et-default-"), "{name}");
        assert_eq!(
            et["spec"]["reference"],
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                   "name": "default", "namespace": "shop"})
        );
        assert_eq!(
            et["spec"]["description"],
            "Event Type auto-created by controller"
        );
        assert_eq!(et["metadata"]["ownerReferences"][0]["kind"], "Broker");
        assert_eq!(et["metadata"]["ownerReferences"][0]["uid"], broker_uid);
        let et = wait_count(&h, "shop", name, 5);
        assert_last_seen(&et);
        h.wait_jsonpath(&["eventtype", name, "-n", "shop"], READY, "True");
    }

    // Without the annotation: nothing created, the registered type counts its 3 events.
    let known = wait_count(&h, "quiet", "known", 3);
    assert_last_seen(&known);
    // Several flush intervals later: no double counting, nothing new.
    std::thread::sleep(Duration::from_millis(1500));
    let quiet = event_types(&h, "quiet", None);
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    assert_eq!(event_count(&quiet[0]), 3);
    for et in event_types(&h, "shop", None) {
        assert_eq!(event_count(&et), 5, "{et}");
    }

    // More traffic adds up and moves lastSeen forward.
    let before = known["status"]["lastSeen"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let r = post_binary(
        &c,
        &ingress_url(&h, "quiet", "default"),
        "q-late",
        "com.example.known",
        &[],
        b"{}",
    );
    assert_202(&r, "quiet");
    let known = wait_count(&h, "quiet", "known", 4);
    let after = known["status"]["lastSeen"].as_str().unwrap();
    assert!(after > before.as_str(), "{before} then {after}");

    let wide = h.kubectl_ok(&["get", "eventtypes", "-n", "shop", "-o", "wide"]);
    println!("$ kubectl get eventtypes -n shop -o wide\n{wide}");
    for line in wide.lines().skip(1) {
        assert_eq!(
            columns(line).last().map(String::as_str),
            Some("5"),
            "{wide}"
        );
    }
}

/// §6.5.1 / §6.7: without a namespace annotation, Knative's `eventtype-auto-create` feature flag
/// in `knative-eventing/config-features` decides; the annotation `disabled` overrides it.
#[test]
fn config_features_switches_auto_creation() {
    let (h, _dir) = start_with(&["--eventtype-flush-ms", "200"]);
    apply(
        &h,
        &[
            namespace("plain", None),
            namespace("off", Some("disabled")),
            broker_in("plain", "default"),
            broker_in("off", "default"),
        ],
    );
    for ns in ["plain", "off"] {
        h.wait_jsonpath(&["broker", "default", "-n", ns], READY, "True");
    }
    let c = Client::new();
    let post = |ns: &str, id: &str| {
        let r = post_binary(
            &c,
            &ingress_url(&h, ns, "default"),
            id,
            "com.example.flagged",
            &[],
            b"{}",
        );
        assert_202(&r, ns);
    };
    // Flag absent (Knative's default: disabled).
    post("plain", "before");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(event_types(&h, "plain", None).is_empty());

    apply(
        &h,
        &[
            namespace("knative-eventing", None),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "config-features", "namespace": "knative-eventing"},
                   "data": {"eventtype-auto-create": "enabled"}}),
        ],
    );
    for id in ["a", "b"] {
        post("plain", id);
        post("off", id);
    }
    let ets = wait_pairs(
        &h,
        "plain",
        AUTO,
        &[("com.example.flagged", "/herald/tests")],
    );
    // Only the events after the switch: the earlier one matched no EventType.
    wait_count(&h, "plain", ets[0]["metadata"]["name"].as_str().unwrap(), 2);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(event_types(&h, "off", None).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 4. Floods of random types: the ingress keeps answering, the registry stays bounded

/// A nonce so types are distinct between runs too.
fn nonce() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// `--eventtype-auto-create-limit 20`: 300 distinct types all get 202, exactly 20 EventTypes
/// are auto-created, and the other 280 are counted as refused.
#[test]
fn flood_is_capped_by_the_auto_create_limit() {
    let (h, _dir) = start_with(&[
        "--eventtype-flush-ms",
        "200",
        "--eventtype-auto-create-limit",
        "20",
    ]);
    apply(
        &h,
        &[
            namespace("flood", Some("enabled")),
            broker_in("flood", "default"),
        ],
    );
    h.wait_jsonpath(&["broker", "default", "-n", "flood"], READY, "True");
    let c = Client::new();
    let n = nonce();
    for i in 0..300 {
        let r = post_binary(
            &c,
            &ingress_url(&h, "flood", "default"),
            &format!("f-{i}"),
            &format!("com.example.random.{n}.{i}"),
            &[],
            b"{}",
        );
        assert_202(&r, &format!("event {i}"));
    }
    wait_for("280 refusals", || {
        match metric(&c, &h, "herald_eventtypes_autocreate_refused_total") {
            280 => Ok(()),
            v => Err(v.to_string()),
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    let ets = event_types(&h, "flood", Some(AUTO));
    assert_eq!(ets.len(), 20);
    assert_eq!(event_types(&h, "flood", None).len(), 20);
    for et in &ets {
        assert_eq!(event_count(et), 1, "{et}");
    }
}

/// `--max-observed-types 50`: 500 distinct types within one flush window all get 202; the 450
/// the window has no room for are counted as dropped.
#[test]
fn flood_is_bounded_by_the_observation_window() {
    let (h, _dir) = start_with(&[
        "--eventtype-flush-ms",
        "600000",
        "--max-observed-types",
        "50",
    ]);
    apply(
        &h,
        &[
            namespace("flood", Some("enabled")),
            broker_in("flood", "default"),
        ],
    );
    h.wait_jsonpath(&["broker", "default", "-n", "flood"], READY, "True");
    let c = Client::new();
    let n = nonce();
    assert_eq!(
        metric(&c, &h, "herald_eventtype_observations_dropped_total"),
        0
    );
    for i in 0..500 {
        let r = post_binary(
            &c,
            &ingress_url(&h, "flood", "default"),
            &format!("f-{i}"),
            &format!("com.example.random.{n}.{i}"),
            &[],
            b"{}",
        );
        assert_202(&r, &format!("event {i}"));
    }
    assert_eq!(
        metric(&c, &h, "herald_eventtype_observations_dropped_total"),
        450
    );
}

/// §6.5.1: events a channel accepts register under the channel (reference and owner = the
/// InMemoryChannel); deleting the channel or the Broker deletes what they auto-created.
#[test]
fn channel_traffic_registers_under_the_channel_and_owners_cascade() {
    let (h, _dir) = start_with(&["--eventtype-flush-ms", "200"]);
    apply(
        &h,
        &[
            namespace("chan", Some("enabled")),
            broker_in("chan", "default"),
            json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
                   "metadata": {"name": "orders", "namespace": "chan"}}),
        ],
    );
    h.wait_jsonpath(&["broker", "default", "-n", "chan"], READY, "True");
    h.wait_jsonpath(&["imc", "orders", "-n", "chan"], READY, "True");
    let channel_url = h.kubectl_ok(&[
        "get",
        "imc",
        "orders",
        "-n",
        "chan",
        "-o",
        "jsonpath={.status.address.url}",
    ]);
    let c = Client::new();
    for i in 0..2 {
        let r = post_binary(
            &c,
            &channel_url,
            &format!("c-{i}"),
            "com.example.channel.msg",
            &[],
            b"{}",
        );
        assert_202(&r, "channel");
    }
    let r = post_binary(
        &c,
        &ingress_url(&h, "chan", "default"),
        "b-0",
        "com.example.broker.msg",
        &[],
        b"{}",
    );
    assert_202(&r, "broker");
    let ets = wait_pairs(
        &h,
        "chan",
        AUTO,
        &[
            ("com.example.broker.msg", "/herald/tests"),
            ("com.example.channel.msg", "/herald/tests"),
        ],
    );
    let chan = ets
        .iter()
        .find(|et| attr(et, "type") == Some("com.example.channel.msg"))
        .unwrap();
    let name = chan["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("et-orders-"), "{name}");
    assert_eq!(
        chan["spec"]["reference"],
        json!({"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel",
               "name": "orders", "namespace": "chan"})
    );
    assert_eq!(
        chan["metadata"]["ownerReferences"][0]["kind"],
        "InMemoryChannel"
    );
    wait_count(&h, "chan", name, 2);

    h.kubectl_ok(&["delete", "imc", "orders", "-n", "chan"]);
    wait_pairs(
        &h,
        "chan",
        AUTO,
        &[("com.example.broker.msg", "/herald/tests")],
    );
    h.kubectl_ok(&["delete", "broker", "default", "-n", "chan"]);
    wait_pairs(&h, "chan", AUTO, &[]);
}
