//! GitHubSource and GitLabSource, black-box (reference §7; DP-56 sources emit CloudEvents to
//! their sink): Herald serves each source's webhook at `status.webhookUrl`; signed deliveries
//! of GitHub's and GitLab's published example payloads arrive at the sink with Knative's
//! attributes, and every refused delivery (bad or missing signature/token, unknown or
//! unsubscribed event, malformed JSON, oversized body) gets its status and forwards nothing.

mod common;

use std::time::Duration;

use common::Herald;
use common::broker::*;
use common::sink::{Received, Reply, Sink};
use serde_json::{Value, json};

const SECRET: &str = "It's a Secret to Everybody";

/// A payload vendored in herald-sources' test data (origin and licence in its README).
fn payload(dir: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../herald-sources/tests/data/{dir}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn secret(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
           "stringData": {"secretToken": value, "accessToken": "unused"}})
}

fn secret_ref(secret: &str, key: &str) -> Value {
    json!({"secretKeyRef": {"name": secret, "key": key}})
}

fn github_source(name: &str, secret: &str, sink: Value, event_types: &[&str]) -> Value {
    json!({
        "apiVersion": "sources.knative.dev/v1alpha1", "kind": "GitHubSource",
        "metadata": {"name": name},
        "spec": {
            "ownerAndRepository": "Codertocat/Hello-World",
            "eventTypes": event_types,
            "accessToken": secret_ref(secret, "accessToken"),
            "secretToken": secret_ref(secret, "secretToken"),
            "sink": sink,
        }
    })
}

fn gitlab_source(name: &str, secret: &str, sink: Value, event_types: &[&str]) -> Value {
    json!({
        "apiVersion": "sources.knative.dev/v1alpha1", "kind": "GitLabSource",
        "metadata": {"name": name},
        "spec": {
            "projectUrl": "https://gitlab.com/knative/eventing",
            "eventTypes": event_types,
            "accessToken": secret_ref(secret, "accessToken"),
            "secretToken": secret_ref(secret, "secretToken"),
            "sink": sink,
        }
    })
}

fn broker_sink() -> Value {
    json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}})
}

/// Waits for Ready and returns `status.webhookUrl`, checked against the ingress route.
fn ready_webhook(h: &Herald, resource: &str, name: &str) -> String {
    h.wait_jsonpath(&[resource, name], READY, "True");
    let url = h.kubectl_ok(&["get", resource, name, "-o", "jsonpath={.status.webhookUrl}"]);
    assert_eq!(
        url,
        format!("{}/sources/default/{resource}/{name}", h.ingress)
    );
    url
}

/// Signs as GitHub does (the signer is checked against GitHub's documented test vector in
/// herald-sources' unit tests).
fn github_headers<'a>(event: &'a str, delivery: &'a str, sig: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/json"),
        ("user-agent", "GitHub-Hookshot/044aadd"),
        ("x-github-event", event),
        ("x-github-delivery", delivery),
        ("x-hub-signature-256", sig),
    ]
}

fn post_github(c: &Client, url: &str, event: &str, delivery: &str, body: &[u8]) -> Resp {
    let sig = herald_sources::github::signature_256(SECRET.as_bytes(), body);
    c.post(url, &github_headers(event, delivery, &sig), body)
}

fn assert_status(r: &Resp, want: u16, what: &str) {
    assert_eq!(r.status, want, "{what}: {} {}", r.status, r.body);
}

/// A GitHub delivery's expected event: (event, delivery id, subject, extension headers).
type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header in {r:#?}"))
}

#[test]
fn github_source_through_a_broker_forwards_signed_deliveries_and_refuses_the_rest() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(&h, json!({}), &[trigger("gh", &sink.at("/gh"), json!({}))]);
    apply(
        &h,
        &[
            secret("gh-secret", SECRET),
            github_source(
                "gh",
                "gh-secret",
                broker_sink(),
                &["push", "pull_request", "issues"],
            ),
        ],
    );
    let url = ready_webhook(&h, "githubsources", "gh");
    let status: Value =
        serde_json::from_str(&h.kubectl_ok(&["get", "githubsources", "gh", "-o", "json"]))
            .expect("json");
    assert_eq!(status["status"]["sinkUri"], json!(broker_url(&h)));
    let types: Vec<&str> = status["status"]["ceAttributes"]
        .as_array()
        .expect("ceAttributes")
        .iter()
        .map(|a| {
            assert_eq!(
                a["source"],
                json!("https://github.com/Codertocat/Hello-World")
            );
            a["type"].as_str().expect("type")
        })
        .collect();
    assert_eq!(
        types,
        [
            "dev.knative.source.github.push",
            "dev.knative.source.github.pull_request",
            "dev.knative.source.github.issues"
        ]
    );

    let c = Client::new();
    // (event, delivery id, subject, extensions)
    let cases: [Expected; 3] = [
        (
            "push",
            "d-push",
            "simple-tag",
            &[
                ("ce-owner", "Codertocat"),
                ("ce-repository", "Hello-World"),
                ("ce-sender", "Codertocat"),
                ("ce-pusher", "Codertocat"),
                ("ce-ref", "refs/tags/simple-tag"),
                ("ce-created", "true"),
                ("ce-deleted", "false"),
                ("ce-forced", "false"),
            ],
        ),
        (
            "pull_request",
            "d-pr",
            "2",
            &[("ce-action", "opened"), ("ce-number", "2")],
        ),
        (
            "issues",
            "d-issue",
            "1",
            &[("ce-action", "labeled"), ("ce-label", "bug")],
        ),
    ];
    for (event, id, _, _) in &cases {
        let r = post_github(&c, &url, event, id, &payload("github", event));
        assert_status(&r, 202, event);
    }
    let got = sink.wait_for("/gh", 3, WAIT);
    for (event, id, subject, exts) in &cases {
        let r = with_id(&got, id);
        assert_eq!(
            header(r, "ce-type"),
            format!("dev.knative.source.github.{event}")
        );
        assert_eq!(
            header(r, "ce-source"),
            "https://github.com/Codertocat/Hello-World"
        );
        assert_eq!(header(r, "ce-subject"), *subject);
        assert_eq!(header(r, "content-type"), "application/json");
        assert!(r.header("ce-time").is_some(), "time is filled in (DP-59)");
        for (name, value) in *exts {
            assert_eq!(header(r, name), *value, "{event} {name}");
        }
        assert_eq!(
            r.body,
            payload("github", event),
            "{event}: data is the payload"
        );
    }
    assert!(with_id(&got, "d-push").header("ce-action").is_none());

    // Refusals: each answered with its status; none reaches the sink.
    let push = payload("github", "push");
    let good_sig = herald_sources::github::signature_256(SECRET.as_bytes(), &push);
    let bad_sig = herald_sources::github::signature_256(b"not the secret", &push);
    let mut unsigned = github_headers("push", "d-unsigned", "");
    unsigned.retain(|(n, _)| *n != "x-hub-signature-256");
    assert_status(&c.post(&url, &unsigned, &push), 401, "missing signature");
    assert_status(
        &c.post(&url, &github_headers("push", "d-bad", &bad_sig), &push),
        403,
        "signature with another secret",
    );
    let mut tampered = push.clone();
    tampered.extend_from_slice(b" ");
    assert_status(
        &c.post(
            &url,
            &github_headers("push", "d-tampered", &good_sig),
            &tampered,
        ),
        403,
        "body changed after signing",
    );
    assert_status(
        &post_github(&c, &url, "nonsense", "d-unknown", b"{}"),
        404,
        "unknown event",
    );
    assert_status(
        &post_github(
            &c,
            &url,
            "check_run",
            "d-check",
            &payload("github", "check_run"),
        ),
        404,
        "event not in spec.eventTypes",
    );
    assert_status(
        &post_github(&c, &url, "ping", "d-ping", &payload("github", "ping")),
        200,
        "ping (not subscribed): answered, not forwarded",
    );
    assert_status(
        &post_github(&c, &url, "push", "d-malformed", b"{\"ref\": "),
        400,
        "malformed JSON",
    );
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    assert_status(
        &post_github(&c, &url, "push", "d-huge", &huge),
        413,
        "body over 25 MB",
    );
    assert_status(&c.send("GET", &url, &[], b""), 405, "GET");
    sink.expect_no_more("/gh", 3, Duration::from_secs(1));
}

#[test]
fn github_source_with_a_uri_sink_reports_sink_refusals_and_missing_secrets() {
    let sink = Sink::start();
    let h = Herald::start();
    apply(
        &h,
        &[
            secret("gh-secret", SECRET),
            {
                let mut s = github_source(
                    "direct",
                    "gh-secret",
                    json!({"uri": sink.at("/direct")}),
                    &["push", "ping"],
                );
                s["spec"]["ceOverrides"] = json!({"extensions": {"team": "platform"}});
                s
            },
            github_source(
                "nosecret",
                "absent",
                json!({"uri": sink.at("/nosecret")}),
                &["push"],
            ),
        ],
    );
    let url = ready_webhook(&h, "githubsources", "direct");
    h.wait_jsonpath(
        &["githubsources", "direct"],
        "{.status.sinkUri}",
        &sink.at("/direct"),
    );
    let c = Client::new();
    // A subscribed ping is forwarded, its subject the hook id (Knative forwards pings).
    let r = post_github(&c, &url, "ping", "d-ping", &payload("github", "ping"));
    assert_status(&r, 202, "ping");
    let got = sink.wait_for("/direct", 1, WAIT);
    assert_eq!(header(&got[0], "ce-type"), "dev.knative.source.github.ping");
    assert_eq!(header(&got[0], "ce-subject"), "109948940");
    assert_eq!(header(&got[0], "ce-id"), "d-ping");
    assert_eq!(
        header(&got[0], "ce-team"),
        "platform",
        "ceOverrides (DP-57)"
    );

    // The sink refuses (400, not retried): GitHub is told the delivery failed.
    sink.script("/direct", vec![Reply::status(400)]);
    let r = post_github(&c, &url, "push", "d-refused", &payload("github", "push"));
    assert_status(&r, 502, "sink refused");
    sink.wait_for("/direct", 2, WAIT);

    // A missing secret: not Ready, SecretTokenNotFound, and no webhook served.
    h.wait_jsonpath(&["githubsources", "nosecret"], READY, "False");
    h.wait_jsonpath(
        &["githubsources", "nosecret"],
        "{.status.conditions[?(@.type==\"SecretsProvided\")].reason}",
        "SecretTokenNotFound",
    );
    let nosecret = format!("{}/sources/default/githubsources/nosecret", h.ingress);
    let r = post_github(&c, &nosecret, "push", "d-x", &payload("github", "push"));
    assert_status(&r, 404, "not served without a secret");
    // Creating the Secret makes it Ready.
    apply(&h, &[secret("absent", SECRET)]);
    ready_webhook(&h, "githubsources", "nosecret");
    let r = post_github(&c, &nosecret, "push", "d-late", &payload("github", "push"));
    assert_status(&r, 202, "served once the secret exists");
    assert_eq!(
        header(&sink.wait_for("/nosecret", 1, WAIT)[0], "ce-id"),
        "d-late"
    );
    sink.expect_no_more("/direct", 2, Duration::from_millis(300));
}

fn gitlab_headers<'a>(event: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/json"),
        ("user-agent", "GitLab/17.0.0"),
        ("x-gitlab-event", event),
        ("x-gitlab-token", token),
        (
            "x-gitlab-event-uuid",
            "9cdd5bd0-d13c-4ce2-aa30-54bb3c4b6e0a",
        ),
    ]
}

#[test]
fn gitlab_source_through_a_broker_forwards_authenticated_deliveries_and_refuses_the_rest() {
    let sink = Sink::start();
    let h = Herald::start();
    setup(&h, json!({}), &[trigger("gl", &sink.at("/gl"), json!({}))]);
    apply(
        &h,
        &[
            secret("gl-secret", "gl-t0ken"),
            gitlab_source(
                "gl",
                "gl-secret",
                broker_sink(),
                &["push_events", "tag_push_events", "merge_requests_events"],
            ),
        ],
    );
    let url = ready_webhook(&h, "gitlabsources", "gl");
    let status: Value =
        serde_json::from_str(&h.kubectl_ok(&["get", "gitlabsources", "gl", "-o", "json"]))
            .expect("json");
    assert_eq!(status["status"]["sinkUri"], json!(broker_url(&h)));
    assert_eq!(
        status["status"]["ceAttributes"],
        json!([
            {"type": "dev.knative.sources.gitlab.push", "source": "https://gitlab.com/knative/eventing"},
            {"type": "dev.knative.sources.gitlab.tag_push", "source": "https://gitlab.com/knative/eventing"},
            {"type": "dev.knative.sources.gitlab.merge_request", "source": "https://gitlab.com/knative/eventing"},
        ])
    );

    let c = Client::new();
    let cases = [
        ("push", "Push Hook", "push"),
        ("tag_push", "Tag Push Hook", "tag_push"),
        ("merge_request", "Merge Request Hook", "merge_request"),
    ];
    for (file, event, _) in cases {
        let r = c.post(
            &url,
            &gitlab_headers(event, "gl-t0ken"),
            &payload("gitlab", file),
        );
        assert_status(&r, 202, event);
    }
    let got = sink.wait_for("/gl", 3, WAIT);
    let mut ids = Vec::new();
    for (file, event, ty) in cases {
        let r = got
            .iter()
            // Binary mode percent-encodes the space (CloudEvents HTTP binding §3.1.3.2).
            .find(|r| r.header("ce-comgitlabevent") == Some(&event.replace(' ', "%20")))
            .unwrap_or_else(|| panic!("no {event} delivery: {got:#?}"));
        assert_eq!(
            header(r, "ce-type"),
            format!("dev.knative.sources.gitlab.{ty}")
        );
        assert_eq!(
            header(r, "ce-source"),
            "https://gitlab.com/knative/eventing"
        );
        assert!(r.header("ce-subject").is_none());
        assert_eq!(header(r, "content-type"), "application/json");
        assert_eq!(r.body, payload("gitlab", file));
        let id = header(r, "ce-id");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a UUID: {id}");
        ids.push(id.to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a fresh id per delivery");

    let push = payload("gitlab", "push");
    let mut no_token = gitlab_headers("Push Hook", "");
    no_token.retain(|(n, _)| *n != "x-gitlab-token");
    assert_status(&c.post(&url, &no_token, &push), 401, "missing token");
    assert_status(
        &c.post(&url, &gitlab_headers("Push Hook", "gl-t0ken2"), &push),
        403,
        "wrong token",
    );
    assert_status(
        &c.post(&url, &gitlab_headers("Pipeline Hook", "gl-t0ken"), b"{}"),
        200,
        "event not enabled in spec.eventTypes: answered 2xx, not forwarded",
    );
    assert_status(
        &c.post(&url, &gitlab_headers("Push", "gl-t0ken"), &push),
        400,
        "not a hook header",
    );
    assert_status(
        &c.post(
            &url,
            &gitlab_headers("Push Hook", "gl-t0ken"),
            b"{\"object_kind\"",
        ),
        400,
        "malformed JSON",
    );
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    assert_status(
        &c.post(&url, &gitlab_headers("Push Hook", "gl-t0ken"), &huge),
        413,
        "body over 25 MB",
    );
    sink.expect_no_more("/gl", 3, Duration::from_secs(1));
}
