//! ApiServerSource against Herald's own API, black-box with kubectl (reference §5.6 DP-56..DP-60,
//! §7 ApiServerSource events): adds, updates and deletes of watched objects become
//! `dev.knative.apiserver.{ref,resource}.*` events with Knative's attributes and data.

mod common;

use std::time::Duration;

use common::Herald;
use common::broker::*;
use common::sink::{Received, Sink};
use serde_json::{Value, json};

const EVENT_WAIT: Duration = Duration::from_secs(30);

fn source(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sources.knative.dev/v1", "kind": "ApiServerSource",
           "metadata": {"name": name}, "spec": spec})
}

fn configmap(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": data})
}

fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

fn get_json(h: &Herald, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&h.kubectl_ok(&a)).expect("kubectl json")
}

/// Asserts the binary-mode CloudEvent attributes Knative's adapter sets (§7).
fn assert_event(r: &Received, h: &Herald, ty: &str, subject: &str, ext: [(&str, &str); 4]) {
    assert_eq!(r.header("ce-specversion"), Some("1.0"), "{r:#?}");
    assert_eq!(r.header("ce-type"), Some(ty), "{r:#?}");
    assert_eq!(r.header("ce-source"), Some(h.api.as_str()), "{r:#?}");
    assert_eq!(r.header("ce-subject"), Some(subject), "{r:#?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:#?}");
    assert!(r.header("ce-id").is_some_and(|id| !id.is_empty()), "{r:#?}");
    assert!(r.header("ce-time").is_some(), "{r:#?}");
    for (k, v) in ext {
        assert_eq!(r.header(&format!("ce-{k}")), Some(v), "{k}: {r:#?}");
    }
}

#[test]
fn dp56_reference_mode_reports_broker_add_update_delete() {
    let sink = Sink::start();
    let h = Herald::start();
    // Exists before the source: Knative's adapter sends nothing for it (informer list is
    // stored, not emitted).
    apply(&h, &[broker("before", json!({}))]);
    apply(
        &h,
        &[source(
            "brokers",
            json!({"resources": [{"apiVersion": "eventing.knative.dev/v1", "kind": "Broker"}],
                   "sink": {"uri": sink.at("/ref")}}),
        )],
    );
    h.wait_jsonpath(&["apiserversource", "brokers"], READY, "True");
    let status = get_json(&h, &["apiserversource", "brokers"])["status"].clone();
    assert_eq!(status["sinkUri"], json!(sink.at("/ref")));
    assert_eq!(
        status["ceAttributes"],
        json!([
            {"type": "dev.knative.apiserver.ref.add", "source": h.api},
            {"type": "dev.knative.apiserver.ref.update", "source": h.api},
            {"type": "dev.knative.apiserver.ref.delete", "source": h.api},
        ])
    );

    apply(&h, &[broker("b1", json!({}))]);
    h.wait_jsonpath(&["broker", "b1"], READY, "True");
    h.kubectl_ok(&["label", "broker", "b1", "tier=gold"]);
    h.kubectl_ok(&["delete", "broker", "b1"]);

    let subject = "/apis/eventing.knative.dev/v1/namespaces/default/brokers/b1";
    let ext = [
        ("kind", "Broker"),
        ("name", "b1"),
        ("namespace", "default"),
        ("apiversion", "eventing.knative.dev/v1"),
    ];
    let want_data = json!({"kind": "Broker", "namespace": "default", "name": "b1",
                           "apiVersion": "eventing.knative.dev/v1"});
    // The Broker's reconciler updates its status too, so the number of updates varies: the
    // first event is the add, the last the delete, and everything between an update.
    let deadline = std::time::Instant::now() + EVENT_WAIT;
    let got = loop {
        let got = sink.received("/ref");
        if got.last().and_then(|r| r.header("ce-type")) == Some("dev.knative.apiserver.ref.delete")
        {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delete event: {got:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(got.len() >= 3, "add, updates, delete: {got:#?}");
    for (i, r) in got.iter().enumerate() {
        let ty = match i {
            0 => "dev.knative.apiserver.ref.add",
            i if i == got.len() - 1 => "dev.knative.apiserver.ref.delete",
            _ => "dev.knative.apiserver.ref.update",
        };
        assert_event(r, &h, ty, subject, ext);
        assert_eq!(body(r), want_data);
    }
    sink.expect_no_more("/ref", got.len(), Duration::from_millis(500));
}

#[test]
fn dp56_resource_mode_sends_the_whole_object_and_the_label_selector_filters() {
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "cms",
            json!({"mode": "Resource",
                   "resources": [{"apiVersion": "v1", "kind": "ConfigMap",
                                  "selector": {"matchLabels": {"app": "watched"}}}],
                   "sink": {"uri": sink.at("/res")}}),
        )],
    );
    h.wait_jsonpath(&["apiserversource", "cms"], READY, "True");

    apply(
        &h,
        &[configmap(
            "skipped",
            json!({"app": "other"}),
            json!({"a": "1"}),
        )],
    );
    apply(
        &h,
        &[configmap(
            "cm1",
            json!({"app": "watched"}),
            json!({"a": "1"}),
        )],
    );
    let added = get_json(&h, &["configmap", "cm1"]);
    let got = sink.wait_for("/res", 1, EVENT_WAIT);
    let subject = "/apis/v1/namespaces/default/configmaps/cm1";
    let ext = [
        ("kind", "ConfigMap"),
        ("name", "cm1"),
        ("namespace", "default"),
        ("apiversion", "v1"),
    ];
    assert_event(
        &got[0],
        &h,
        "dev.knative.apiserver.resource.add",
        subject,
        ext,
    );
    assert_eq!(body(&got[0]), added, "the data is the whole object");

    h.kubectl_ok(&[
        "patch",
        "configmap",
        "cm1",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    let updated = get_json(&h, &["configmap", "cm1"]);
    let got = sink.wait_for("/res", 2, EVENT_WAIT);
    assert_event(
        &got[1],
        &h,
        "dev.knative.apiserver.resource.update",
        subject,
        ext,
    );
    assert_eq!(body(&got[1]), updated);
    assert_eq!(body(&got[1])["data"]["a"], "2");

    h.kubectl_ok(&["delete", "configmap", "cm1", "skipped"]);
    let got = sink.wait_for("/res", 3, EVENT_WAIT);
    assert_event(
        &got[2],
        &h,
        "dev.knative.apiserver.resource.delete",
        subject,
        ext,
    );
    assert_eq!(body(&got[2])["metadata"]["uid"], updated["metadata"]["uid"]);
    sink.expect_no_more("/res", 3, Duration::from_millis(700));
}

#[test]
fn dp57_sink_broker_with_trigger_and_ce_overrides() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(
        &h,
        json!({}),
        &[trigger(
            "adds",
            &sink.at("/t"),
            json!({"filter": {"attributes": {"type": "dev.knative.apiserver.ref.add"}}}),
        )],
    );
    apply(
        &h,
        &[source(
            "to-broker",
            json!({"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                   "ceOverrides": {"extensions": {"team": "blue"}},
                   "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                    "name": "default"}}}),
        )],
    );
    h.wait_jsonpath(&["apiserversource", "to-broker"], READY, "True");
    h.wait_jsonpath(
        &["apiserversource", "to-broker"],
        "{.status.sinkUri}",
        &broker_url(&h),
    );
    apply(&h, &[configmap("via-broker", json!({}), json!({}))]);
    h.kubectl_ok(&["delete", "configmap", "via-broker"]);
    let got = sink.wait_for("/t", 1, EVENT_WAIT);
    assert_event(
        &got[0],
        &h,
        "dev.knative.apiserver.ref.add",
        "/apis/v1/namespaces/default/configmaps/via-broker",
        [
            ("kind", "ConfigMap"),
            ("name", "via-broker"),
            ("namespace", "default"),
            ("apiversion", "v1"),
        ],
    );
    assert_eq!(got[0].header("ce-team"), Some("blue"));
    assert_eq!(
        body(&got[0]),
        json!({"kind": "ConfigMap", "namespace": "default", "name": "via-broker",
               "apiVersion": "v1"})
    );
    // The delete is filtered out by the Trigger.
    sink.expect_no_more("/t", 1, Duration::from_millis(700));
}

#[test]
fn dp56_namespace_selector_watches_matching_namespaces() {
    let sink = Sink::start();
    let h = Herald::start();
    h.kubectl_ok(&["create", "namespace", "team-a"]);
    h.kubectl_ok(&["create", "namespace", "team-b"]);
    h.kubectl_ok(&["label", "namespace", "team-a", "watch=yes"]);
    apply(
        &h,
        &[source(
            "nsel",
            json!({"resources": [{"apiVersion": "v1", "kind": "ConfigMap"}],
                   "namespaceSelector": {"matchLabels": {"watch": "yes"}},
                   "sink": {"uri": sink.at("/ns")}}),
        )],
    );
    h.wait_jsonpath(&["apiserversource", "nsel"], READY, "True");
    for ns in ["default", "team-b", "team-a"] {
        h.kubectl_ok(&["create", "configmap", "first", "-n", ns]);
    }
    let got = sink.wait_for("/ns", 1, EVENT_WAIT);
    assert_eq!(got[0].header("ce-namespace"), Some("team-a"));
    sink.expect_no_more("/ns", 1, Duration::from_millis(700));

    // A namespace that starts matching is picked up (the selection is re-read every few
    // seconds); what it already holds is not reported, like at start.
    h.kubectl_ok(&["label", "namespace", "team-b", "watch=yes"]);
    let deadline = std::time::Instant::now() + EVENT_WAIT;
    let mut n = 0;
    while sink.received("/ns").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "team-b never watched");
        n += 1;
        h.kubectl_ok(&["create", "configmap", &format!("probe-{n}"), "-n", "team-b"]);
        std::thread::sleep(Duration::from_secs(1));
    }
    let got = sink.received("/ns");
    assert_eq!(got[1].header("ce-namespace"), Some("team-b"), "{got:#?}");
    assert_eq!(
        got[1].header("ce-type"),
        Some("dev.knative.apiserver.ref.add")
    );
}

#[test]
fn dp60_unknown_kind_is_not_ready() {
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[source(
            "nothing",
            json!({"resources": [{"apiVersion": "example.com/v1", "kind": "Nothing"}],
                   "sink": {"uri": sink.at("/x")}}),
        )],
    );
    h.wait_jsonpath(&["apiserversource", "nothing"], READY, "False");
    let status = get_json(&h, &["apiserversource", "nothing"])["status"].clone();
    let conds = status["conditions"].as_array().cloned().unwrap_or_default();
    let deployed = conds
        .iter()
        .find(|c| c["type"] == "Deployed")
        .unwrap_or_else(|| panic!("no Deployed condition: {status:#}"));
    assert_eq!(deployed["status"], "False", "{status:#}");
    assert_eq!(deployed["reason"], "ResourceNotFound", "{status:#}");
    assert!(
        deployed["message"]
            .as_str()
            .is_some_and(|m| m.contains("example.com/v1 Nothing")),
        "{status:#}"
    );
}
