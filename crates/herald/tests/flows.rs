//! Sequence and Parallel, black-box (reference DP-67, DP-68): Knative's documentation examples
//! with local sinks standing in for the sample services, the children visible with kubectl
//! under Knative's names, and garbage-collected with the flow.

mod common;

use std::time::{Duration, Instant};

use common::broker::*;
use common::sink::{Reply, Sink};
use common::{Herald, data};
use serde_json::{Value, json};

/// A Knative Service that Herald resolves to `url` (Herald does not run containers).
fn ksvc(name: &str, url: &str) -> Value {
    json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
           "metadata": {"name": name, "annotations": {"herald.dev/url": url}},
           "spec": {"template": {"spec": {"containers": [{"image": "example.com/stand-in"}]}}}})
}

/// A binary-mode CloudEvent reply with JSON `data`.
fn event_reply(id: &str, ty: &str, data: &Value) -> Reply {
    Reply::status(200)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/herald/tests/flows")
        .header("ce-type", ty)
        .header("content-type", "application/json")
        .body(data.to_string().as_bytes())
}

fn json_body(r: &common::sink::Received) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

/// Object names (`kind.group/name`) kubectl lists for `kinds`.
fn names(h: &Herald, kinds: &str) -> Vec<String> {
    let out = h.kubectl_ok(&["get", kinds, "-o", "name"]);
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Waits until kubectl lists exactly `want` for `kinds`.
fn wait_names(h: &Herald, kinds: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    loop {
        let got = names(h, kinds);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kinds}: wanted {want:?}, got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dp68_sequence_example_from_knative_docs() {
    let sink = Sink::start();
    // The docs' three `appender` services, each adding " - Handled by <i>" to the message.
    let mut message = "Hello world!".to_string();
    for (i, step) in ["/first", "/second", "/third"].iter().enumerate() {
        message.push_str(&format!(" - Handled by {i}"));
        sink.fallback(
            step,
            event_reply(
                &format!("step-{i}"),
                "samples.http.mod3",
                &json!({"id": 0, "message": message}),
            ),
        );
    }
    let h = Herald::start();
    apply(
        &h,
        &[
            ksvc("first", &sink.at("/first")),
            ksvc("second", &sink.at("/second")),
            ksvc("third", &sink.at("/third")),
            ksvc("event-display", &sink.at("/display")),
        ],
    );
    h.kubectl_ok(&["apply", "-f", &data("flows/sequence.yaml")]);
    h.wait_jsonpath(&["sequence", "sequence"], READY, "True");

    // Knative's children, owned by the Sequence.
    let mut want = Vec::new();
    for i in 0..3 {
        want.push(format!(
            "inmemorychannel.messaging.knative.dev/sequence-kn-sequence-{i}"
        ));
        want.push(format!(
            "subscription.messaging.knative.dev/sequence-kn-sequence-{i}"
        ));
    }
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    wait_names(&h, "inmemorychannels,subscriptions", &want);
    let owner = h.kubectl_ok(&[
        "get",
        "subscription",
        "sequence-kn-sequence-1",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}",
    ]);
    assert_eq!(owner, "Sequence/sequence/true");
    let reply = h.kubectl_ok(&[
        "get",
        "subscription",
        "sequence-kn-sequence-1",
        "-o",
        "jsonpath={.status.physicalSubscription.replyUri}",
    ]);
    assert_eq!(
        reply,
        format!("{}/channels/default/sequence-kn-sequence-2", h.ingress)
    );
    let url = format!("{}/channels/default/sequence-kn-sequence-0", h.ingress);
    h.wait_jsonpath(&["sequence", "sequence"], "{.status.address.url}", &url);
    let statuses = h.kubectl_ok(&[
        "get",
        "sequence",
        "sequence",
        "-o",
        "jsonpath={.status.channelStatuses[*].ready.status} {.status.subscriptionStatuses[*].subscription.name}",
    ]);
    assert_eq!(
        statuses,
        "True True True sequence-kn-sequence-0 sequence-kn-sequence-1 sequence-kn-sequence-2"
    );

    // The docs' PingSource sends {"message": "Hello world!"} to the Sequence.
    let c = Client::new();
    assert_202(
        &post_binary(
            &c,
            &url,
            "ping-1",
            "dev.knative.sources.ping",
            &[],
            br#"{"message":"Hello world!"}"#,
        ),
        "sequence",
    );
    let display = sink.wait_for("/display", 1, WAIT);
    assert_eq!(
        json_body(&display[0]),
        json!({"id": 0, "message": "Hello world! - Handled by 0 - Handled by 1 - Handled by 2"})
    );
    assert_eq!(display[0].header("ce-type"), Some("samples.http.mod3"));
    // Each step got the previous step's reply.
    let first = sink.received("/first");
    assert_eq!(first[0].header("ce-id"), Some("ping-1"));
    assert_eq!(json_body(&first[0]), json!({"message": "Hello world!"}));
    let second = sink.received("/second");
    assert_eq!(second[0].header("ce-id"), Some("step-0"));
    assert_eq!(
        json_body(&second[0])["message"],
        "Hello world! - Handled by 0"
    );
    let third = sink.received("/third");
    assert_eq!(third[0].header("ce-id"), Some("step-1"));
    sink.expect_no_more("/display", 1, Duration::from_millis(300));

    // Deleting the Sequence garbage-collects its channels and subscriptions.
    h.kubectl_ok(&["delete", "sequence", "sequence"]);
    wait_names(&h, "inmemorychannels,subscriptions", &[]);
}

#[test]
fn dp67_parallel_example_from_knative_docs() {
    let sink = Sink::start();
    // The docs' filters pass the event (reply with it) when its minute is even/odd, else
    // drop it (202, no body). Event "e1" is even, "e2" is odd.
    let pass = |id: &str| event_reply(id, "dev.knative.sources.ping", &json!({"n": id}));
    sink.script("/even-filter", vec![pass("e1"), Reply::status(202)]);
    sink.script("/odd-filter", vec![Reply::status(202), pass("e2")]);
    sink.fallback(
        "/even-transformer",
        event_reply("even", "even", &json!({"message": "we are even!"})),
    );
    sink.fallback(
        "/odd-transformer",
        event_reply("odd", "odd", &json!({"message": "this is odd!"})),
    );
    let h = Herald::start();
    let svcs: Vec<Value> = [
        "even-filter",
        "odd-filter",
        "even-transformer",
        "odd-transformer",
    ]
    .iter()
    .map(|n| ksvc(n, &sink.at(&format!("/{n}"))))
    .chain([ksvc("event-display", &sink.at("/display"))])
    .collect();
    apply(&h, &svcs);
    h.kubectl_ok(&["apply", "-f", &data("flows/parallel.yaml")]);
    h.wait_jsonpath(&["parallel", "odd-even-parallel"], READY, "True");

    let p = "odd-even-parallel";
    let imc = |n: String| format!("inmemorychannel.messaging.knative.dev/{n}");
    let sub = |n: String| format!("subscription.messaging.knative.dev/{n}");
    let want = [
        imc(format!("{p}-kn-parallel")),
        imc(format!("{p}-kn-parallel-0")),
        imc(format!("{p}-kn-parallel-1")),
        sub(format!("{p}-kn-parallel-0")),
        sub(format!("{p}-kn-parallel-1")),
        sub(format!("{p}-kn-parallel-filter-0")),
        sub(format!("{p}-kn-parallel-filter-1")),
    ];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    wait_names(&h, "inmemorychannels,subscriptions", &want);
    let url = format!("{}/channels/default/{p}-kn-parallel", h.ingress);
    h.wait_jsonpath(&["parallel", p], "{.status.address.url}", &url);
    let statuses = h.kubectl_ok(&[
        "get",
        "parallel",
        p,
        "-o",
        "jsonpath={.status.ingressChannelStatus.ready.status} {.status.branchStatuses[*].filterSubscriptionStatus.subscription.name}",
    ]);
    assert_eq!(
        statuses,
        format!("True {p}-kn-parallel-filter-0 {p}-kn-parallel-filter-1")
    );

    let c = Client::new();
    assert_202(
        &post_binary(&c, &url, "e1", "dev.knative.sources.ping", &[], b"{}"),
        "e1",
    );
    let display = sink.wait_for("/display", 1, WAIT);
    assert_eq!(json_body(&display[0]), json!({"message": "we are even!"}));
    // Both filters saw it; only the even branch's subscriber did.
    sink.wait_for("/odd-filter", 1, WAIT);
    sink.expect_no_more("/odd-transformer", 0, Duration::from_millis(300));
    assert_eq!(sink.received("/even-transformer").len(), 1);
    assert_eq!(
        sink.received("/even-transformer")[0].header("ce-id"),
        Some("e1")
    );

    assert_202(
        &post_binary(&c, &url, "e2", "dev.knative.sources.ping", &[], b"{}"),
        "e2",
    );
    let display = sink.wait_for("/display", 2, WAIT);
    assert_eq!(json_body(&display[1]), json!({"message": "this is odd!"}));
    sink.wait_for("/even-filter", 2, WAIT);
    sink.expect_no_more("/even-transformer", 1, Duration::from_millis(300));
    sink.expect_no_more("/display", 2, Duration::from_millis(200));

    h.kubectl_ok(&["delete", "parallel", p]);
    wait_names(&h, "inmemorychannels,subscriptions", &[]);
}

/// Herald's default channel template (DurableChannel): the children are `Channel`s, listed by
/// `kubectl get channels,subscriptions`; a branch without a filter takes every event; a step
/// added later gets its children, a removed one loses them.
#[test]
fn default_template_flows_use_durable_channels() {
    let sink = Sink::start();
    sink.fallback(
        "/step",
        event_reply("stepped", "dev.herald.stepped", &json!({"stepped": true})),
    );
    let h = Herald::start();
    let seq = |steps: Value| {
        json!({"apiVersion": "flows.knative.dev/v1", "kind": "Sequence", "metadata": {"name": "s"},
               "spec": {"steps": steps, "reply": {"uri": sink.at("/seq-reply")}}})
    };
    apply(
        &h,
        &[
            seq(json!([{"uri": sink.at("/step")}])),
            json!({"apiVersion": "flows.knative.dev/v1", "kind": "Parallel", "metadata": {"name": "p"},
                   "spec": {"branches": [{"subscriber": {"uri": sink.at("/branch")}}],
                            "reply": {"uri": sink.at("/par-reply")}}}),
        ],
    );
    h.wait_jsonpath(&["sequence", "s"], READY, "True");
    h.wait_jsonpath(&["parallel", "p"], READY, "True");
    wait_names(
        &h,
        "channels,subscriptions",
        &[
            "channel.messaging.knative.dev/p-kn-parallel",
            "channel.messaging.knative.dev/p-kn-parallel-0",
            "channel.messaging.knative.dev/s-kn-sequence-0",
            "subscription.messaging.knative.dev/p-kn-parallel-0",
            "subscription.messaging.knative.dev/p-kn-parallel-filter-0",
            "subscription.messaging.knative.dev/s-kn-sequence-0",
        ],
    );
    let template = h.kubectl_ok(&[
        "get",
        "channels.messaging.knative.dev",
        "s-kn-sequence-0",
        "-o",
        "jsonpath={.spec.channelTemplate.kind}",
    ]);
    assert_eq!(template, "DurableChannel");

    let c = Client::new();
    let par_url = format!("{}/channels/default/p-kn-parallel", h.ingress);
    assert_202(
        &post_binary(&c, &par_url, "p1", "dev.herald.t", &[], b"{}"),
        "parallel",
    );
    let got = sink.wait_for("/branch", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("p1"));

    // Two steps now: a second channel and subscription appear; the first step replies into it.
    apply(
        &h,
        &[seq(
            json!([{"uri": sink.at("/step")}, {"uri": sink.at("/step2")}]),
        )],
    );
    h.wait_jsonpath(
        &["sequence", "s"],
        "{.status.subscriptionStatuses[1].ready.status}",
        "True",
    );
    h.wait_jsonpath(
        &["subscription", "s-kn-sequence-0"],
        "{.status.observedGeneration}",
        "2",
    );
    h.wait_jsonpath(&["subscription", "s-kn-sequence-0"], READY, "True");
    h.wait_jsonpath(&["sequence", "s"], READY, "True");
    let seq_url = format!("{}/channels/default/s-kn-sequence-0", h.ingress);
    assert_202(
        &post_binary(&c, &seq_url, "s1", "dev.herald.t", &[], b"{}"),
        "sequence",
    );
    let got = sink.wait_for("/step2", 1, WAIT);
    assert_eq!(got[0].header("ce-id"), Some("stepped"));
    // /step2 answers 202 without an event: nothing reaches the reply.
    sink.expect_no_more("/seq-reply", 0, Duration::from_millis(300));

    // Back to one step: the second step's children are deleted.
    apply(&h, &[seq(json!([{"uri": sink.at("/step")}]))]);
    wait_names(
        &h,
        "channels",
        &[
            "channel.messaging.knative.dev/p-kn-parallel",
            "channel.messaging.knative.dev/p-kn-parallel-0",
            "channel.messaging.knative.dev/s-kn-sequence-0",
        ],
    );
    h.kubectl_ok(&["delete", "sequence,parallel", "--all"]);
    wait_names(&h, "channels,subscriptions", &[]);
}
