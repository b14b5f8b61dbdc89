//! GitHubSource: Herald serves the webhook itself (at `status.webhookUrl`) and turns each signed
//! GitHub delivery into a CloudEvent as Knative's eventing-github adapter does (reference §7):
//! type `dev.knative.source.github.<X-GitHub-Event>`, source `https://github.com/<owner[/repo]>`,
//! id `X-GitHub-Delivery`, subject and extensions per event, data the payload as received.
//! Herald does not register the webhook with GitHub (no use of `spec.accessToken`).

use axum::http::{HeaderMap, Method};
use herald_api::sources::github::GitHubSourceSpec;
use herald_ce::{AttrValue, Data, Event};
use ring::hmac;
use serde_json::Value;

use crate::receiver::{self, Outcome, Receiver, Rejection, header_str};
use crate::runtime::SourceContext;

pub const SIGNATURE_256_HEADER: &str = "X-Hub-Signature-256";
/// The SHA-1 signature GitHub still sends; checked only when the SHA-256 one is absent (as
/// go-github's `ValidatePayload`, which Knative's handler uses).
pub const SIGNATURE_SHA1_HEADER: &str = "X-Hub-Signature";
pub const EVENT_HEADER: &str = "X-GitHub-Event";
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
pub const TYPE_PREFIX: &str = "dev.knative.source.github";

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    receiver::serve(ctx, receiver_of).await;
}

fn receiver_of(ctx: &SourceContext) -> Result<Receiver<Rules>, (&'static str, String)> {
    let spec: GitHubSourceSpec = serde_json::from_value(ctx.plan.spec.clone())
        .map_err(|e| ("InvalidSpec", format!("the spec does not decode: {e}")))?;
    let secret = receiver::secret_token(ctx, &spec.secret_token)?;
    Ok(Receiver::new(
        Rules {
            source: source_of(&spec.owner_and_repository),
            event_types: spec.event_types,
            secret,
        },
        ctx,
    ))
}

/// The CloudEvent `source` of a GitHubSource (an org-level source has no repository part).
pub fn source_of(owner_and_repository: &str) -> String {
    format!("https://github.com/{owner_and_repository}")
}

/// What a delivery is checked against (pure: no I/O).
#[derive(Debug, Clone)]
struct Rules {
    source: String,
    event_types: Vec<String>,
    secret: Vec<u8>,
}

impl receiver::Decide for Rules {
    fn decide(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome, Rejection> {
        Rules::decide(self, method, headers, body)
    }
}

impl Rules {
    /// Authenticates first (nothing about the source is revealed to an unsigned caller), then
    /// checks the event and payload.
    fn decide(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome, Rejection> {
        receiver::require_post(method)?;
        verify_signature(headers, &self.secret, body)?;
        let event =
            header_str(headers, EVENT_HEADER).ok_or(Rejection::MissingHeader(EVENT_HEADER))?;
        let delivery = header_str(headers, DELIVERY_HEADER)
            .ok_or(Rejection::MissingHeader(DELIVERY_HEADER))?;
        let mapping = mapping(event).ok_or_else(|| {
            Rejection::UnknownEvent(format!("GitHub event {event:?} is not handled"))
        })?;
        let (text, payload) = receiver::json_payload(body)?;
        if !self.event_types.iter().any(|t| t == event) {
            if event == "ping" {
                return Ok(Outcome::Ignore(
                    "pong (ping is not in spec.eventTypes: not forwarded)".into(),
                ));
            }
            return Err(Rejection::UnknownEvent(format!(
                "GitHub event {event:?} is not in spec.eventTypes"
            )));
        }
        Ok(Outcome::Forward(Box::new(to_event(
            &self.source,
            event,
            delivery,
            &mapping,
            text,
            &payload,
        ))))
    }
}

/// The `X-Hub-Signature-256` value GitHub sends: `sha256=` and the hex HMAC-SHA256 of the body
/// under the webhook secret.
pub fn signature_256(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("sha256={}", hex(hmac::sign(&key, body).as_ref()))
}

/// Checks the delivery's signature in constant time: missing → 401, wrong → 403.
pub fn verify_signature(headers: &HeaderMap, secret: &[u8], body: &[u8]) -> Result<(), Rejection> {
    let (name, prefix, algorithm) = if headers.contains_key(SIGNATURE_256_HEADER) {
        (SIGNATURE_256_HEADER, "sha256=", hmac::HMAC_SHA256)
    } else if headers.contains_key(SIGNATURE_SHA1_HEADER) {
        (
            SIGNATURE_SHA1_HEADER,
            "sha1=",
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        )
    } else {
        return Err(Rejection::Unauthenticated(SIGNATURE_256_HEADER));
    };
    let tag = header_str(headers, name)
        .and_then(|v| v.strip_prefix(prefix))
        .and_then(unhex)
        .ok_or(Rejection::BadCredentials(name))?;
    hmac::verify(&hmac::Key::new(algorithm, secret), body, &tag)
        .map_err(|_| Rejection::BadCredentials(name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How Knative's adapter computes an event's `subject` (eventing-github `pkg/common/events.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The value at a JSON pointer (numbers in decimal).
    Field(&'static str),
    /// The part after the last `/` of the URL at a JSON pointer.
    LastPathPart(&'static str),
    /// The `page_name`s of `pages`, comma-separated (gollum).
    PageNames,
}

/// Subject rule and extensions (name, JSON pointer) of one GitHub event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    subject: Subject,
    extensions: &'static [(&'static str, &'static str)],
}

const OWNER: (&str, &str) = ("owner", "/repository/owner/login");
const REPOSITORY: (&str, &str) = ("repository", "/repository/name");
const SENDER: (&str, &str) = ("sender", "/sender/login");
const ACTION: (&str, &str) = ("action", "/action");
const INSTALLATION: (&str, &str) = ("installation", "/installation/id");
const ORG_OWNER: (&str, &str) = ("owner", "/organization/login");

const REPO: &[(&str, &str)] = &[OWNER, REPOSITORY, SENDER];
const REPO_ACTION: &[(&str, &str)] = &[OWNER, REPOSITORY, SENDER, ACTION];
const APP_ACTION: &[(&str, &str)] = &[OWNER, REPOSITORY, INSTALLATION, SENDER, ACTION];
const REF: &[(&str, &str)] = &[OWNER, REPOSITORY, SENDER, ("ref", "/ref")];
const INSTALL: &[(&str, &str)] = &[INSTALLATION, SENDER, ACTION];
const ORG: &[(&str, &str)] = &[ORG_OWNER, SENDER, ACTION];

/// The events Knative's adapter handles (its `ValidEvents`), with their subject and
/// extensions; any other event is answered 404 as Knative does.
fn mapping(event: &str) -> Option<Mapping> {
    use Subject::*;
    let m = |subject, extensions| {
        Some(Mapping {
            subject,
            extensions,
        })
    };
    match event {
        "check_run" => m(Field("/check_run/id"), REPO_ACTION),
        "check_suite" => m(Field("/check_suite/id"), REPO_ACTION),
        "commit_comment" => m(LastPathPart("/comment/html_url"), REPO_ACTION),
        "create" | "delete" => m(Field("/ref_type"), REF),
        "deployment" | "deployment_status" => m(Field("/deployment/id"), REPO),
        "fork" => m(Field("/forkee/id"), REPO),
        "gollum" => m(PageNames, REPO),
        "installation"
        | "integration_installation"
        | "installation_repositories"
        | "integration_installation_repositories" => m(Field("/installation/id"), INSTALL),
        "issue_comment" => m(LastPathPart("/comment/html_url"), REPO_ACTION),
        "issues" => m(
            Field("/issue/number"),
            &[
                OWNER,
                REPOSITORY,
                SENDER,
                ACTION,
                ("label", "/label/name"),
                ("assignee", "/assignee/login"),
            ],
        ),
        "label" => m(
            Field("/label/name"),
            &[OWNER, REPOSITORY, SENDER, ACTION, ("label", "/label/name")],
        ),
        "member" => m(Field("/member/id"), REPO_ACTION),
        "membership" => m(
            Field("/member/id"),
            &[ORG_OWNER, ("scope", "/scope"), SENDER, ACTION],
        ),
        "milestone" => m(Field("/milestone/number"), REPO_ACTION),
        "organization" | "org_block" => m(Field("/action"), ORG),
        "page_build" => m(Field("/id"), REPO),
        "ping" => m(Field("/hook_id"), REPO),
        "project_card" | "project_column" | "project" => m(Field("/action"), REPO_ACTION),
        "public" | "team_add" => m(Field("/repository/id"), REPO),
        "pull_request" => m(
            Field("/pull_request/number"),
            &[
                OWNER,
                REPOSITORY,
                INSTALLATION,
                SENDER,
                ACTION,
                ("number", "/number"),
                ("label", "/label/name"),
                ("assignee", "/assignee/login"),
            ],
        ),
        "pull_request_review_comment" => m(Field("/comment/id"), APP_ACTION),
        "pull_request_review" => m(
            Field("/review/id"),
            &[
                OWNER,
                REPOSITORY,
                INSTALLATION,
                SENDER,
                ACTION,
                ("review", "/review/state"),
            ],
        ),
        "push" => m(
            LastPathPart("/compare"),
            &[
                OWNER,
                REPOSITORY,
                INSTALLATION,
                SENDER,
                ("pusher", "/pusher/name"),
                ("ref", "/ref"),
                ("created", "/created"),
                ("deleted", "/deleted"),
                ("forced", "/forced"),
            ],
        ),
        "release" => m(
            Field("/release/tag_name"),
            &[
                OWNER,
                REPOSITORY,
                INSTALLATION,
                SENDER,
                ACTION,
                ("release", "/release/name"),
            ],
        ),
        "repository" => m(Field("/repository/id"), REPO_ACTION),
        "repository_vulnerability_alert" => m(Field("/alert/id"), &[ACTION]),
        "security_advisory" => m(Field("/security_advisory/ghsa_id"), &[ACTION]),
        "status" => m(
            Field("/sha"),
            &[
                OWNER,
                REPOSITORY,
                SENDER,
                ("state", "/state"),
                ("name", "/name"),
                ("context", "/context"),
            ],
        ),
        "team" => m(Field("/team/id"), &[SENDER, ACTION]),
        "watch" => m(Field("/repository/id"), REPO_ACTION),
        _ => None,
    }
}

/// The CloudEvent for one delivery. `text` is the payload as received; it becomes the data
/// unchanged.
fn to_event(
    source: &str,
    event: &str,
    delivery: &str,
    mapping: &Mapping,
    text: String,
    payload: &Value,
) -> Event {
    let mut ev = Event::new(delivery, source, format!("{TYPE_PREFIX}.{event}"));
    ev.subject = subject(mapping.subject, payload);
    for (name, pointer) in mapping.extensions {
        if let Some(v) = payload.pointer(pointer).and_then(extension_value) {
            ev.set_extension(name, v);
        }
    }
    ev.datacontenttype = Some("application/json".into());
    ev.data = Some(Data::Json(text));
    ev
}

fn subject(rule: Subject, payload: &Value) -> Option<String> {
    let s = match rule {
        Subject::Field(p) => scalar_text(payload.pointer(p)?)?,
        Subject::LastPathPart(p) => {
            let url = payload.pointer(p)?.as_str()?;
            url.rsplit_once('/')?.1.to_owned()
        }
        Subject::PageNames => payload
            .get("pages")?
            .as_array()?
            .iter()
            .filter_map(|p| p.get("page_name")?.as_str())
            .collect::<Vec<_>>()
            .join(","),
    };
    (!s.is_empty()).then_some(s)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An extension's value: strings (non-empty), booleans, and integers within the CloudEvents
/// 32-bit range; anything else (absent, null, wider numbers) is left out, as the Go SDK drops
/// values it cannot represent.
fn extension_value(v: &Value) -> Option<AttrValue> {
    match v {
        Value::String(s) if !s.is_empty() => Some(AttrValue::String(s.clone())),
        Value::Bool(b) => Some(AttrValue::Boolean(*b)),
        Value::Number(n) => n
            .as_i64()
            .filter(|i| i32::try_from(*i).is_ok())
            .map(AttrValue::Integer),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn data(name: &str) -> String {
        let path = format!(
            "{}/tests/data/github/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap()
    }

    fn receiver(event_types: &[&str]) -> Rules {
        Rules {
            source: source_of("Codertocat/Hello-World"),
            event_types: event_types.iter().map(|s| s.to_string()).collect(),
            secret: b"It's a Secret to Everybody".to_vec(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn signed(event: &str, body: &str) -> HeaderMap {
        headers(&[
            (EVENT_HEADER, event),
            (DELIVERY_HEADER, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            (
                SIGNATURE_256_HEADER,
                &signature_256(b"It's a Secret to Everybody", body.as_bytes()),
            ),
        ])
    }

    /// GitHub's documented test vector ("Validating webhook deliveries").
    #[test]
    fn signature_matches_githubs_example() {
        assert_eq!(
            signature_256(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn signature_checks() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let sha1 = {
            let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
            format!("sha1={}", hex(hmac::sign(&key, body).as_ref()))
        };
        let cases: Vec<(&str, HeaderMap, Result<(), Rejection>)> = vec![
            ("sha256", headers(&[(SIGNATURE_256_HEADER, good)]), Ok(())),
            (
                "sha1 only",
                headers(&[(SIGNATURE_SHA1_HEADER, &sha1)]),
                Ok(()),
            ),
            (
                "missing",
                HeaderMap::new(),
                Err(Rejection::Unauthenticated(SIGNATURE_256_HEADER)),
            ),
            (
                "one hex digit changed",
                headers(&[(SIGNATURE_256_HEADER, &good.replace("757107", "757108"))]),
                Err(Rejection::BadCredentials(SIGNATURE_256_HEADER)),
            ),
            (
                "no prefix",
                headers(&[(SIGNATURE_256_HEADER, &good[7..])]),
                Err(Rejection::BadCredentials(SIGNATURE_256_HEADER)),
            ),
            (
                "not hex",
                headers(&[(SIGNATURE_256_HEADER, "sha256=zz")]),
                Err(Rejection::BadCredentials(SIGNATURE_256_HEADER)),
            ),
            (
                "empty",
                headers(&[(SIGNATURE_256_HEADER, "")]),
                Err(Rejection::BadCredentials(SIGNATURE_256_HEADER)),
            ),
            (
                "sha256 wins over a valid sha1",
                headers(&[
                    (SIGNATURE_256_HEADER, "sha256=00"),
                    (SIGNATURE_SHA1_HEADER, &sha1),
                ]),
                Err(Rejection::BadCredentials(SIGNATURE_256_HEADER)),
            ),
        ];
        for (name, h, want) in cases {
            assert_eq!(verify_signature(&h, secret, body), want, "{name}");
        }
        assert!(
            verify_signature(&headers(&[(SIGNATURE_256_HEADER, good)]), b"other", body).is_err()
        );
    }

    fn forwarded(out: Result<Outcome, Rejection>) -> Event {
        match out {
            Ok(Outcome::Forward(e)) => *e,
            other => panic!("not forwarded: {other:?}"),
        }
    }

    fn ext(e: &Event, name: &str) -> Option<AttrValue> {
        e.extensions.get(name).cloned()
    }

    fn s(v: &str) -> Option<AttrValue> {
        Some(AttrValue::String(v.into()))
    }

    #[test]
    fn maps_vendored_payloads() {
        let r = receiver(&["push", "pull_request", "issues", "ping"]);
        // (event, subject, extensions that must be present with these values, absent ones)
        type Case = (
            &'static str,
            &'static str,
            Vec<(&'static str, Option<AttrValue>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "push",
                "simple-tag",
                vec![
                    ("owner", s("Codertocat")),
                    ("repository", s("Hello-World")),
                    ("sender", s("Codertocat")),
                    ("pusher", s("Codertocat")),
                    ("ref", s("refs/tags/simple-tag")),
                    ("created", Some(AttrValue::Boolean(true))),
                    ("deleted", Some(AttrValue::Boolean(false))),
                    ("forced", Some(AttrValue::Boolean(false))),
                    ("installation", None),
                    ("action", None),
                ],
            ),
            (
                "pull_request",
                "2",
                vec![
                    ("action", s("opened")),
                    ("number", Some(AttrValue::Integer(2))),
                    ("owner", s("Codertocat")),
                    ("label", None),
                    ("assignee", None),
                ],
            ),
            (
                "issues",
                "1",
                vec![
                    ("action", s("labeled")),
                    ("label", s("bug")),
                    ("sender", s("Codertocat")),
                ],
            ),
            (
                "ping",
                "109948940",
                vec![("owner", s("Octocoders")), ("repository", s("Hello-World"))],
            ),
        ];
        for (event, subject, exts) in cases {
            let body = data(event);
            let e = forwarded(r.decide(&Method::POST, &signed(event, &body), body.as_bytes()));
            assert_eq!(e.ty, format!("dev.knative.source.github.{event}"));
            assert_eq!(e.source, "https://github.com/Codertocat/Hello-World");
            assert_eq!(e.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
            assert_eq!(e.subject.as_deref(), Some(subject), "{event}");
            assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
            assert_eq!(
                e.data,
                Some(Data::Json(body.clone())),
                "{event}: data is the body"
            );
            for (name, want) in exts {
                assert_eq!(ext(&e, name), want, "{event}: extension {name}");
            }
            e.validate().unwrap();
        }
    }

    #[test]
    fn check_run_subject_is_its_id() {
        let body = data("check_run");
        let e = forwarded(receiver(&["check_run"]).decide(
            &Method::POST,
            &signed("check_run", &body),
            body.as_bytes(),
        ));
        assert_eq!(e.subject.as_deref(), Some("128620228"));
        assert_eq!(ext(&e, "action"), s("created"));
    }

    #[test]
    fn refusals() {
        let r = receiver(&["push"]);
        let push = data("push");
        let ping = data("ping");
        let unsigned = headers(&[(EVENT_HEADER, "push"), (DELIVERY_HEADER, "d")]);
        let mut no_delivery = signed("push", &push);
        no_delivery.remove(DELIVERY_HEADER);
        let mut no_event = signed("push", &push);
        no_event.remove(EVENT_HEADER);
        let cases: Vec<(&str, Method, HeaderMap, &str, u16)> = vec![
            ("GET", Method::GET, signed("push", &push), &push, 405),
            ("unsigned", Method::POST, unsigned, &push, 401),
            (
                "signed for another body",
                Method::POST,
                signed("push", "{}"),
                &push,
                403,
            ),
            ("no event header", Method::POST, no_event, &push, 400),
            ("no delivery header", Method::POST, no_delivery, &push, 400),
            (
                "unknown event",
                Method::POST,
                signed("nonsense", "{}"),
                "{}",
                404,
            ),
            (
                "not subscribed",
                Method::POST,
                signed("issues", "{}"),
                "{}",
                404,
            ),
            (
                "malformed",
                Method::POST,
                signed("push", "{\"a\":"),
                "{\"a\":",
                400,
            ),
            (
                "malformed ping",
                Method::POST,
                signed("ping", "nope"),
                "nope",
                400,
            ),
        ];
        for (name, method, h, body, want) in cases {
            match r.decide(&method, &h, body.as_bytes()) {
                Err(rej) => assert_eq!(rej.status().as_u16(), want, "{name}: {rej}"),
                Ok(o) => panic!("{name}: accepted: {o:?}"),
            }
        }
        // An unsubscribed ping is answered 2xx and not forwarded.
        assert!(matches!(
            r.decide(&Method::POST, &signed("ping", &ping), ping.as_bytes()),
            Ok(Outcome::Ignore(_))
        ));
    }

    #[test]
    fn org_level_source() {
        assert_eq!(source_of("knative"), "https://github.com/knative");
    }

    #[test]
    fn extension_values() {
        use serde_json::json;
        let cases = [
            (json!("x"), s("x")),
            (json!(""), None),
            (json!(true), Some(AttrValue::Boolean(true))),
            (json!(7), Some(AttrValue::Integer(7))),
            (json!(4_294_967_296_i64), None),
            (json!(null), None),
            (json!({"a": 1}), None),
        ];
        for (v, want) in cases {
            assert_eq!(extension_value(&v), want, "{v}");
        }
    }
}
