//! The seeds' manifests (v1alpha1 Broker with an InMemoryChannel template, v1alpha1 Trigger
//! with attribute filters and a Service subscriber, v1alpha1 KafkaSource) and the Knative
//! documentation's examples apply verbatim with the real kubectl and show in `kubectl get`
//! with Knative's columns and conditions.

mod common;

use common::{Herald, data};

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
        .split_whitespace()
        .collect()
}

#[test]
fn seeds_apply_verbatim_with_kubectl() {
    let h = Herald::start();
    let out = h.kubectl_ok(&[
        "apply",
        "-f",
        &data("seeds/broker.yaml"),
        "-f",
        &data("seeds/trigger.yaml"),
        "-f",
        &data("seeds/kafkasource.yaml"),
    ]);
    assert!(
        out.contains("broker.eventing.knative.dev/default created"),
        "{out}"
    );
    assert!(
        out.contains("trigger.eventing.knative.dev/my-service-trigger created"),
        "{out}"
    );
    assert!(
        out.contains("kafkasource.sources.eventing.knative.dev/kafka-sample created"),
        "{out}"
    );

    // Brokers: Knative's columns; the address is Herald's ingress; the class is defaulted.
    let url = format!("{}/default/default", h.ingress);
    h.wait_jsonpath(&["broker", "default"], "{.status.address.url}", &url);
    let brokers = h.kubectl_ok(&["get", "brokers"]);
    assert_eq!(
        header(&brokers),
        ["NAME", "URL", "AGE", "READY", "REASON", "CLASS"],
        "{brokers}"
    );
    let r = row(&brokers, "default");
    assert_eq!(r[1], url);
    h.wait_jsonpath(
        &["broker", "default"],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    );
    assert_eq!(r.last().copied(), Some("MTChannelBasedBroker"));

    // The v1alpha1 channel template survives conversion both ways.
    let v1alpha1 = h.kubectl_ok(&[
        "get",
        "brokers.v1alpha1.eventing.knative.dev",
        "default",
        "-o",
        "yaml",
    ]);
    assert!(v1alpha1.contains("channelTemplateSpec:"), "{v1alpha1}");
    assert!(v1alpha1.contains("kind: InMemoryChannel"), "{v1alpha1}");
    assert!(
        v1alpha1.contains("apiVersion: eventing.knative.dev/v1alpha1"),
        "{v1alpha1}"
    );

    // Triggers: the subscriber Service does not exist yet.
    h.wait_jsonpath(
        &["trigger", "my-service-trigger"],
        "{.status.conditions[?(@.type==\"SubscriberResolved\")].status}",
        "False",
    );
    let triggers = h.kubectl_ok(&["get", "triggers"]);
    assert_eq!(
        header(&triggers),
        ["NAME", "BROKER", "SUBSCRIBER_URI", "AGE", "READY", "REASON"],
        "{triggers}"
    );
    let trigger = h.kubectl_ok(&["get", "trigger", "my-service-trigger", "-o", "yaml"]);
    assert!(trigger.contains("type: dev.knative.foo.bar"), "{trigger}");
    assert!(
        trigger.contains("myextension: my-extension-value"),
        "{trigger}"
    );
    assert!(
        trigger.contains("eventing.knative.dev/broker: default"),
        "defaulted label\n{trigger}"
    );

    // Once the Service says where it listens, the subscriber resolves.
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/services.yaml")]);
    h.wait_jsonpath(
        &["trigger", "my-service-trigger"],
        "{.status.subscriberUri}",
        "http://127.0.0.1:9001/",
    );
    h.wait_jsonpath(
        &["trigger", "my-service-trigger"],
        "{.status.conditions[?(@.type==\"SubscriberResolved\")].status}",
        "True",
    );

    // The seeds' KafkaSource is stored in the current version, shown in both, and not Ready.
    let ks = h.kubectl_ok(&[
        "get",
        "kafkasources.sources.knative.dev",
        "kafka-sample",
        "-o",
        "json",
    ]);
    let ks: serde_json::Value = serde_json::from_str(&ks).expect("json");
    assert_eq!(ks["apiVersion"], "sources.knative.dev/v1");
    assert_eq!(
        ks["spec"]["topics"],
        serde_json::json!(["knative-demo", "news"])
    );
    assert_eq!(
        ks["spec"]["bootstrapServers"],
        serde_json::json!(["my-cluster-kafka-bootstrap.kafka:9092"])
    );
    h.wait_jsonpath(
        &["kafkasources.sources.knative.dev", "kafka-sample"],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "False",
    );
    let legacy = h.kubectl_ok(&[
        "get",
        "kafkasources.sources.eventing.knative.dev",
        "kafka-sample",
        "-o",
        "yaml",
    ]);
    assert!(legacy.contains("topics: knative-demo,news"), "{legacy}");
}

#[test]
fn knative_documentation_examples_apply() {
    let h = Herald::start();
    for f in [
        "services",
        "broker",
        "trigger",
        "channel",
        "sequence",
        "pingsource",
    ] {
        let out = h.kubectl_ok(&["apply", "-f", &data(&format!("knative-docs/{f}.yaml"))]);
        assert!(out.contains("created"), "{f}: {out}");
    }
    let all = h.kubectl_ok(&[
        "get",
        "brokers,triggers,channels,inmemorychannels,subscriptions,sequences,parallels,pingsources",
    ]);
    for name in [
        "broker.eventing.knative.dev/default",
        "broker.eventing.knative.dev/mybroker",
        "trigger.eventing.knative.dev/my-service-trigger",
        "trigger.eventing.knative.dev/my-filters-trigger",
        "channel.messaging.knative.dev/my-channel",
        "inmemorychannel.messaging.knative.dev/my-reply-channel",
        "subscription.messaging.knative.dev/my-subscription",
        "sequence.flows.knative.dev/sequence",
        "parallel.flows.knative.dev/odd-even-parallel",
        "pingsource.sources.knative.dev/test-ping-source",
    ] {
        assert!(all.contains(name), "{name} missing in\n{all}");
    }
    // The PingSource resolves its sink, reports what it emits and runs (its runtime is
    // tested in source_ping.rs).
    h.wait_jsonpath(
        &["pingsource", "test-ping-source"],
        "{.status.sinkUri}",
        "http://127.0.0.1:9002/",
    );
    h.wait_jsonpath(
        &["pingsource", "test-ping-source"],
        "{.status.ceAttributes[0].type}",
        "dev.knative.sources.ping",
    );
    h.wait_jsonpath(
        &["pingsource", "test-ping-source"],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    );
    let ping = h.kubectl_ok(&["get", "pingsources"]);
    let r = row(&ping, "test-ping-source");
    assert_eq!(
        header(&ping),
        ["NAME", "SINK", "SCHEDULE", "AGE", "READY", "REASON"],
        "{ping}"
    );
    assert_eq!(r[1], "http://127.0.0.1:9002/");
    // The trigger subscriber given as a plain URI resolves to it.
    h.wait_jsonpath(
        &["trigger", "my-filters-trigger"],
        "{.status.subscriberUri}",
        "http://127.0.0.1:9/events",
    );
    // The broker's dead-letter sink (a Service without an address) is reported, not guessed.
    h.wait_jsonpath(
        &["broker", "mybroker"],
        "{.status.conditions[?(@.type==\"DeadLetterSinkResolved\")].status}",
        "False",
    );
    // Subscriptions resolve their references.
    h.wait_jsonpath(
        &["subscription", "my-subscription"],
        "{.status.physicalSubscription.subscriberUri}",
        "http://127.0.0.1:9001/",
    );
}

#[test]
fn eventtype_registered_by_hand_becomes_ready() {
    let h = Herald::start();
    let et = r#"
apiVersion: eventing.knative.dev/v1beta2
kind: EventType
metadata:
  name: dev.knative.source.github.push-34cnb
  namespace: default
spec:
  type: dev.knative.source.github.push
  source: https://github.com/knative/eventing
  reference:
    apiVersion: eventing.knative.dev/v1
    kind: Broker
    name: default
  description: "A push to the knative/eventing repository"
"#;
    let out = h.kubectl_stdin(&["apply", "-f", "-"], Some(et));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The referenced broker does not exist yet.
    h.wait_jsonpath(
        &["eventtype", "dev.knative.source.github.push-34cnb"],
        "{.status.conditions[?(@.type==\"ReferenceExists\")].status}",
        "False",
    );
    h.kubectl_ok(&["apply", "-f", &data("knative-docs/broker.yaml")]);
    h.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "eventtype/dev.knative.source.github.push-34cnb",
        "--timeout=20s",
    ]);
    let list = h.kubectl_ok(&["get", "eventtypes", "-n", "default"]);
    let r = row(&list, "dev.knative.source.github.push-34cnb");
    assert!(r.contains(&"dev.knative.source.github.push"), "{list}");
    assert!(r.contains(&"https://github.com/knative/eventing"), "{list}");
    assert!(r.contains(&"True"), "{list}");
    // Served in v1beta3 with attributes, converted from v1beta2.
    let v3 = h.kubectl_ok(&[
        "get",
        "eventtypes.v1beta3.eventing.knative.dev",
        "dev.knative.source.github.push-34cnb",
        "-o",
        "yaml",
    ]);
    assert!(v3.contains("attributes:"), "{v3}");
}
