//! GitLabSource: Herald serves the webhook itself (at `status.webhookUrl`) and turns each
//! authenticated GitLab delivery into a CloudEvent as Knative's eventing-gitlab adapter does
//! (reference §7): type `dev.knative.sources.gitlab.<snake_case(X-Gitlab-Event minus " Hook")>`,
//! source `spec.projectUrl`, extension `comgitlabevent` (the raw header), a fresh UUID id, data
//! the payload as received. Herald does not register the webhook with GitLab.

use axum::http::{HeaderMap, Method};
use herald_api::sources::gitlab::GitLabSourceSpec;
use herald_ce::{AttrValue, Data, Event};

use crate::receiver::{self, Outcome, Receiver, Rejection, header_str};
use crate::runtime::SourceContext;

pub const TOKEN_HEADER: &str = "X-Gitlab-Token";
pub const EVENT_HEADER: &str = "X-Gitlab-Event";
pub const TYPE_PREFIX: &str = "dev.knative.sources.gitlab";
/// The extension carrying the raw `X-Gitlab-Event` header.
pub const EVENT_EXTENSION: &str = "comgitlabevent";

/// Runs the source until `ctx.cancel` fires.
pub async fn run(ctx: SourceContext) {
    receiver::serve(ctx, receiver_of).await;
}

fn receiver_of(ctx: &SourceContext) -> Result<Receiver<Rules>, (&'static str, String)> {
    let spec: GitLabSourceSpec = serde_json::from_value(ctx.plan.spec.clone())
        .map_err(|e| ("InvalidSpec", format!("the spec does not decode: {e}")))?;
    let secret = receiver::secret_token(ctx, &spec.secret_token)?;
    Ok(Receiver::new(
        Rules {
            source: spec.project_url,
            event_types: spec.event_types,
            secret,
        },
        ctx,
    ))
}

/// What a delivery is checked against (pure: no I/O).
#[derive(Debug, Clone)]
struct Rules {
    source: String,
    /// Hook options (`push_events`…): the events this source forwards.
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
    /// Authenticates first, then checks the event and payload. Events this source does not
    /// forward are answered 200: GitLab disables a webhook that keeps answering 4xx, which would
    /// also stop the events the source does want.
    fn decide(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Outcome, Rejection> {
        receiver::require_post(method)?;
        let token = headers
            .get(TOKEN_HEADER)
            .ok_or(Rejection::Unauthenticated(TOKEN_HEADER))?;
        if !receiver::token_matches(token.as_bytes(), &self.secret) {
            return Err(Rejection::BadCredentials(TOKEN_HEADER));
        }
        let header =
            header_str(headers, EVENT_HEADER).ok_or(Rejection::MissingHeader(EVENT_HEADER))?;
        let name = event_type_name(header).ok_or(Rejection::MissingHeader(EVENT_HEADER))?;
        let (text, _) = receiver::json_payload(body)?;
        let enabled = hook_option(header).is_some_and(|o| self.event_types.iter().any(|t| t == o));
        if !enabled {
            return Ok(Outcome::Ignore(format!(
                "{header:?} is not enabled by spec.eventTypes: not forwarded"
            )));
        }
        let mut ev = Event::new("", self.source.clone(), format!("{TYPE_PREFIX}.{name}"));
        ev.set_extension(EVENT_EXTENSION, AttrValue::String(header.to_owned()));
        ev.datacontenttype = Some("application/json".into());
        ev.data = Some(Data::Json(text));
        Ok(Outcome::Forward(Box::new(ev)))
    }
}

/// `Merge Request Hook` → `merge_request`; `None` unless the header ends in " Hook".
pub fn event_type_name(header: &str) -> Option<String> {
    let base = header.strip_suffix(" Hook")?;
    (!base.trim().is_empty()).then(|| base.to_lowercase().replace(' ', "_"))
}

/// The `spec.eventTypes` hook option that makes GitLab send this `X-Gitlab-Event`.
fn hook_option(header: &str) -> Option<&'static str> {
    Some(match header {
        "Push Hook" => "push_events",
        "Tag Push Hook" => "tag_push_events",
        "Issue Hook" => "issues_events",
        "Confidential Issue Hook" => "confidential_issues_events",
        "Note Hook" => "note_events",
        "Confidential Note Hook" => "confidential_note_events",
        "Merge Request Hook" => "merge_requests_events",
        "Wiki Page Hook" => "wiki_page_events",
        "Pipeline Hook" => "pipeline_events",
        // "Build Hook" is what GitLab sent before jobs were called jobs.
        "Job Hook" | "Build Hook" => "job_events",
        "Deployment Hook" => "deployment_events",
        "Release Hook" => "releases_events",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn data(name: &str) -> String {
        let path = format!(
            "{}/tests/data/gitlab/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap()
    }

    fn receiver(event_types: &[&str]) -> Rules {
        Rules {
            source: "https://gitlab.com/knative/eventing".into(),
            event_types: event_types.iter().map(|s| s.to_string()).collect(),
            secret: b"tok3n".to_vec(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn event_type_names() {
        let cases = [
            ("Push Hook", Some("push")),
            ("Tag Push Hook", Some("tag_push")),
            ("Merge Request Hook", Some("merge_request")),
            ("Confidential Issue Hook", Some("confidential_issue")),
            ("Job Hook", Some("job")),
            ("Push", None),
            (" Hook", None),
            ("Hook", None),
        ];
        for (header, want) in cases {
            assert_eq!(event_type_name(header).as_deref(), want, "{header}");
        }
    }

    #[test]
    fn maps_vendored_payloads() {
        let r = receiver(&["push_events", "tag_push_events", "merge_requests_events"]);
        for (file, header, ty) in [
            ("push", "Push Hook", "push"),
            ("tag_push", "Tag Push Hook", "tag_push"),
            ("merge_request", "Merge Request Hook", "merge_request"),
        ] {
            let body = data(file);
            let h = headers(&[(TOKEN_HEADER, "tok3n"), (EVENT_HEADER, header)]);
            let e = match r.decide(&Method::POST, &h, body.as_bytes()) {
                Ok(Outcome::Forward(e)) => *e,
                other => panic!("{file}: {other:?}"),
            };
            assert_eq!(e.ty, format!("dev.knative.sources.gitlab.{ty}"));
            assert_eq!(e.source, "https://gitlab.com/knative/eventing");
            assert_eq!(e.id, "", "{file}: the emitter assigns a UUID");
            assert_eq!(e.subject, None);
            assert_eq!(
                e.extensions.get(EVENT_EXTENSION),
                Some(&AttrValue::String(header.into()))
            );
            assert_eq!(e.extensions.len(), 1);
            assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
            assert_eq!(e.data, Some(Data::Json(body)));
        }
    }

    #[test]
    fn refusals() {
        let r = receiver(&["push_events"]);
        let push = data("push");
        let ok = |event: &str| headers(&[(TOKEN_HEADER, "tok3n"), (EVENT_HEADER, event)]);
        let cases: Vec<(&str, Method, HeaderMap, &str, u16)> = vec![
            ("GET", Method::GET, ok("Push Hook"), &push, 405),
            (
                "no token",
                Method::POST,
                headers(&[(EVENT_HEADER, "Push Hook")]),
                &push,
                401,
            ),
            (
                "wrong token",
                Method::POST,
                headers(&[(TOKEN_HEADER, "tok3n "), (EVENT_HEADER, "Push Hook")]),
                &push,
                403,
            ),
            (
                "empty token",
                Method::POST,
                headers(&[(TOKEN_HEADER, ""), (EVENT_HEADER, "Push Hook")]),
                &push,
                403,
            ),
            (
                "no event",
                Method::POST,
                headers(&[(TOKEN_HEADER, "tok3n")]),
                &push,
                400,
            ),
            ("not a hook", Method::POST, ok("Push"), &push, 400),
            ("malformed", Method::POST, ok("Push Hook"), "{\"a\"", 400),
        ];
        for (name, method, h, body, want) in cases {
            match r.decide(&method, &h, body.as_bytes()) {
                Err(rej) => assert_eq!(rej.status().as_u16(), want, "{name}: {rej}"),
                Ok(o) => panic!("{name}: accepted: {o:?}"),
            }
        }
        for event in ["Tag Push Hook", "Emoji Hook"] {
            assert!(
                matches!(
                    r.decide(&Method::POST, &ok(event), push.as_bytes()),
                    Ok(Outcome::Ignore(_))
                ),
                "{event} is not enabled: answered 2xx, not forwarded"
            );
        }
    }
}
