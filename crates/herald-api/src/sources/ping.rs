//! `PingSource` (sources.knative.dev/v1, storage; v1beta2 deprecated) and the legacy
//! `sources.eventing.knative.dev/v1alpha1 CronJobSource`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

use crate::conditions::ConditionSet;
use crate::field::{FieldError, FieldErrors};
use crate::meta::{CloudEventOverrides, Destination, SourceStatus};
use crate::object::Object;
use crate::registry::{
    AGE_COLUMN, Ctx, Kind, PrinterColumn, READY_COLUMN, REASON_COLUMN, Resource, ServedVersion,
    Typed, identity, set_type,
};
use crate::schema::structural;

use super::support::{
    CATEGORIES, Conv, GROUP, LEGACY_GROUP, LEGACY_STASH_PREFIX, ObjectReference, SINK_COLUMN,
    STORAGE_STASH_PREFIX, default_sink_namespace, is_go_duration, validate_source_spec,
};

pub const KIND: &str = "PingSource";
pub const API_VERSION: &str = "sources.knative.dev/v1";
pub const LEGACY_KIND: &str = "CronJobSource";
pub const LEGACY_API_VERSION: &str = "sources.eventing.knative.dev/v1alpha1";

/// The schedule Knative defaults an empty one to (every minute).
pub const DEFAULT_SCHEDULE: &str = "* * * * *";

/// PingSource's dependent conditions (`ping_lifecycle.go`, without the OIDC one).
pub const CONDITIONS: ConditionSet = ConditionSet::new(&["SinkProvided", "Deployed"]);

/// PingSourceSpec defines the desired state of the PingSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingSourceSpec {
    /// Schedule is the cron schedule. Defaults to `* * * * *`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schedule: String,
    /// Timezone modifies the actual time relative to the specified timezone. Defaults to the
    /// system time zone. See https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timezone: String,
    /// ContentType is the media type of Data or DataBase64. Default is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    /// Data is data used as the body of the event posted to the sink. Default is empty.
    /// Mutually exclusive with DataBase64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// DataBase64 is the base64-encoded string of the actual event's body posted to the sink.
    /// Default is empty. Mutually exclusive with Data.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_base64: String,
    /// Sink is a reference to an object that will resolve to a uri to use as the sink.
    #[serde(default)]
    pub sink: Destination,
    /// CloudEventOverrides defines overrides to control the output format and modifications
    /// of the event sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
}

/// PingSourceStatus defines the observed state of PingSource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingSourceStatus {
    /// The duck SourceStatus: conditions, observedGeneration, sinkUri, ceAttributes.
    #[serde(flatten)]
    pub source_status: SourceStatus,
}

pub type PingSource = Object<PingSourceSpec, PingSourceStatus>;

/// CPU and memory of the legacy receive adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobResourceSpec {
    /// Requested CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<CronJobRequestsSpec>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<CronJobLimitsSpec>,
}

/// Requested CPU and memory of the legacy receive adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobRequestsSpec {
    /// Memory request, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU request, e.g. `250m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

/// CPU and memory limits of the legacy receive adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobLimitsSpec {
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

/// The legacy CronJobSource spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSourceSpec {
    /// Schedule is the cronjob schedule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schedule: String,
    /// Data is the data posted to the target function.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// Sink is a reference to an object that will resolve to a domain name to use as the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<ObjectReference>,
    /// ServiceAccountName is the name of the ServiceAccount that will be used to run the
    /// Receive Adapter Deployment (kept by Herald, unused).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Resource limits and requests of the receive adapter (kept by Herald, unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<CronJobResourceSpec>,
}

pub type CronJobSource = Object<CronJobSourceSpec, PingSourceStatus>;

const CRON_DESCRIPTORS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// One cron field: its name, range and symbolic names (`JAN`, `SUN`).
struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Whether `?` is allowed (day-of-month and day-of-week).
    question: bool,
}

const SECONDS: CronField = CronField {
    name: "seconds",
    min: 0,
    max: 59,
    names: &[],
    question: false,
};
const MINUTES: CronField = CronField {
    name: "minutes",
    min: 0,
    max: 59,
    names: &[],
    question: false,
};
const HOURS: CronField = CronField {
    name: "hours",
    min: 0,
    max: 23,
    names: &[],
    question: false,
};
const DOM: CronField = CronField {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
    question: true,
};
const MONTHS: CronField = CronField {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    question: false,
};
const DOW: CronField = CronField {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    question: true,
};

impl CronField {
    fn value(&self, s: &str) -> Result<u32, String> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            // Month names start at 1 (`JAN`), weekday names at 0 (`SUN`).
            return Ok(i as u32 + self.min);
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("invalid {} value {s:?}", self.name))?;
        if n < self.min || n > self.max {
            return Err(format!(
                "{} value {n} out of range [{}, {}]",
                self.name, self.min, self.max
            ));
        }
        Ok(n)
    }

    fn check(&self, field: &str) -> Result<(), String> {
        for item in field.split(',') {
            if item.is_empty() {
                return Err(format!("empty item in {} field {field:?}", self.name));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n > 0 => {}
                    _ => return Err(format!("invalid step {step:?} in {} field", self.name)),
                }
            }
            if range == "*" || (range == "?" && self.question) {
                continue;
            }
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (self.value(a)?, self.value(b)?);
                    if a > b {
                        return Err(format!(
                            "beginning of range ({a}) beyond end of range ({b}) in {} field",
                            self.name
                        ));
                    }
                }
                None => {
                    self.value(range)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks a cron schedule's syntax: an optional `CRON_TZ=<zone> `/`TZ=<zone> ` prefix, then a
/// descriptor (`@daily`, `@every 1h30m`, …) or 5 fields (minute hour dom month dow) with an
/// optional leading seconds field. Each field is a comma list of `*`, `?` (day fields), values,
/// names (`JAN`, `MON`) or ranges, each with an optional `/step`. Full evaluation (next fire
/// times) belongs to the source runtime.
pub fn validate_cron(schedule: &str) -> Result<(), String> {
    let mut s = schedule.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let Some((tz, rest)) = rest.split_once(char::is_whitespace) else {
                return Err(format!("missing schedule after {prefix}"));
            };
            validate_timezone(tz)?;
            s = rest.trim();
            break;
        }
    }
    if s.is_empty() {
        return Err("empty spec string".into());
    }
    if let Some(d) = s.strip_prefix("@every") {
        let d = d.trim();
        if d.is_empty() || !is_go_duration(d) {
            return Err(format!("failed to parse duration {s}"));
        }
        return Ok(());
    }
    if s.starts_with('@') {
        if CRON_DESCRIPTORS.contains(&s) {
            return Ok(());
        }
        return Err(format!("unrecognized descriptor: {s}"));
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    let kinds: &[CronField] = match fields.len() {
        5 => &[MINUTES, HOURS, DOM, MONTHS, DOW],
        6 => &[SECONDS, MINUTES, HOURS, DOM, MONTHS, DOW],
        n => return Err(format!("expected 5 or 6 fields, found {n}: {s}")),
    };
    for (f, k) in fields.iter().zip(kinds) {
        k.check(f)?;
    }
    Ok(())
}

/// Checks a time zone name against the system time zone database.
pub fn validate_timezone(tz: &str) -> Result<(), String> {
    if tz.is_empty() {
        return Err("provided bad location : empty".into());
    }
    jiff::tz::TimeZone::get(tz)
        .map(|_| ())
        .map_err(|e| format!("provided bad location {tz}: {e}"))
}

impl Kind for PingSource {
    fn set_defaults(&mut self, _ctx: &Ctx) {
        if self.spec.schedule.is_empty() {
            self.spec.schedule = DEFAULT_SCHEDULE.into();
        }
        let ns = self.namespace().to_string();
        default_sink_namespace(&mut self.spec.sink, &ns);
    }

    fn validate(&self, _ctx: &Ctx) -> FieldErrors {
        let mut errs = FieldErrors::new();
        let s = &self.spec;
        if s.schedule.is_empty() {
            errs.push(FieldError::required("spec.schedule"));
        } else if let Err(e) = validate_cron(&s.schedule) {
            errs.push(FieldError::invalid(
                "spec.schedule",
                format!("invalid value: {e}"),
            ));
        }
        if !s.timezone.is_empty()
            && let Err(e) = validate_timezone(&s.timezone)
        {
            errs.push(FieldError::invalid(
                "spec.timezone",
                format!("invalid value: {e}"),
            ));
        }
        let json = s.content_type == "application/json";
        let is_json_object = |text: &str| {
            serde_json::from_str::<serde_json::Map<String, Value>>(text).map_err(|e| e.to_string())
        };
        if !s.data.is_empty() && !s.data_base64.is_empty() {
            errs.push(FieldError::invalid(
                "spec",
                "expected exactly one, got both: data, dataBase64",
            ));
        } else if !s.data_base64.is_empty() {
            match decode_base64(&s.data_base64) {
                None => errs.push(FieldError::invalid(
                    "spec.dataBase64",
                    "invalid value: illegal base64 data",
                )),
                Some(bytes) if json => {
                    let text = String::from_utf8_lossy(&bytes);
                    if let Err(e) = is_json_object(&text) {
                        errs.push(FieldError::invalid(
                            "spec.dataBase64",
                            format!("invalid value: {e}"),
                        ));
                    }
                }
                Some(_) => {}
            }
        } else if !s.data.is_empty()
            && json
            && let Err(e) = is_json_object(&s.data)
        {
            errs.push(FieldError::invalid(
                "spec.data",
                format!("invalid value: {e}"),
            ));
        }
        validate_source_spec(&mut errs, &s.sink, s.ce_overrides.as_ref());
        errs
    }

    fn validate_update(&self, _old: &Self, _ctx: &Ctx) -> FieldErrors {
        // Every PingSource field may change (Knative has no immutable fields here).
        FieldErrors::new()
    }
}

/// Decodes standard padded base64.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if !super::support::is_base64(s) {
        return None;
    }
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | if c == b'=' { 0 } else { val(c) };
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// CronJobSource -> PingSource v1.
fn up(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_up()?;
    c.keep(&["schedule", "data"]);
    c.restore(STORAGE_STASH_PREFIX);
    c.stash_rest(LEGACY_STASH_PREFIX);
    Ok(c.finish(API_VERSION, KIND))
}

/// PingSource v1 -> CronJobSource.
fn down(v: Value) -> Result<Value, FieldErrors> {
    let mut c = Conv::new(v)?;
    c.sink_down()?;
    c.keep(&["schedule", "data"]);
    c.restore(LEGACY_STASH_PREFIX);
    c.stash_rest(STORAGE_STASH_PREFIX);
    Ok(c.finish(LEGACY_API_VERSION, LEGACY_KIND))
}

fn beta_up(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, API_VERSION, KIND))
}

fn beta_down(v: Value) -> Result<Value, FieldErrors> {
    Ok(set_type(v, "sources.knative.dev/v1beta2", KIND))
}

fn storage_up(v: Value) -> Result<Value, FieldErrors> {
    identity(v).map(|v| set_type(v, API_VERSION, KIND))
}

const COLUMNS: &[PrinterColumn] = &[
    SINK_COLUMN,
    PrinterColumn {
        name: "Schedule",
        type_: "string",
        json_path: ".spec.schedule",
        priority: 0,
        description: "The cron schedule",
    },
    AGE_COLUMN,
    READY_COLUMN,
    REASON_COLUMN,
];

/// The PingSource resource: v1 (storage), v1beta2, legacy CronJobSource.
pub fn resource() -> Resource {
    Resource {
        group: GROUP,
        plural: "pingsources",
        kind: KIND,
        namespaced: true,
        has_status: true,
        sensitive: false,
        versions: vec![
            ServedVersion {
                group: GROUP,
                version: "v1",
                kind: KIND,
                plural: "pingsources",
                singular: "pingsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: None,
                schema: structural::<PingSource>,
                to_storage: storage_up,
                from_storage: storage_up,
            },
            ServedVersion {
                group: GROUP,
                version: "v1beta2",
                kind: KIND,
                plural: "pingsources",
                singular: "pingsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.knative.dev/v1beta2 PingSource is deprecated; use sources.knative.dev/v1 PingSource",
                ),
                schema: structural::<PingSource>,
                to_storage: beta_up,
                from_storage: beta_down,
            },
            ServedVersion {
                group: LEGACY_GROUP,
                version: "v1alpha1",
                kind: LEGACY_KIND,
                plural: "cronjobsources",
                singular: "cronjobsource",
                short_names: &[],
                categories: CATEGORIES,
                columns: COLUMNS,
                deprecated: Some(
                    "sources.eventing.knative.dev/v1alpha1 CronJobSource is deprecated; use sources.knative.dev/v1 PingSource",
                ),
                schema: structural::<CronJobSource>,
                to_storage: up,
                from_storage: down,
            },
        ],
        hooks: Box::new(Typed::<PingSource>::new()),
    }
}

/// An example object (used by tests).
#[cfg(test)]
fn sample() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": "ping", "namespace": "default"},
        "spec": {"schedule": "*/2 * * * *", "data": "{\"hello\":\"world\"}",
                 "contentType": "application/json",
                 "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                  "name": "default"}}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::support::test_util::*;

    #[test]
    fn resource_shape() {
        let r = resource();
        check_resource(&r);
        assert_eq!(r.versions.len(), 3);
        assert!(r.versions[2].deprecated.is_some());
        assert_eq!(r.versions[2].plural, "cronjobsources");
    }

    #[test]
    fn cron_syntax() {
        let ok = [
            "* * * * *",
            "*/2 * * * *",
            "0 0 1,15 * MON-FRI",
            "0 9-17/2 * JAN-MAR ?",
            "30 0 0 * * *",
            "@hourly",
            "@every 1h30m",
            "@every 10s",
            "CRON_TZ=Europe/Paris 0 9 * * *",
            "TZ=UTC @daily",
            "0 0 * * 7",
        ];
        for s in ok {
            assert_eq!(validate_cron(s), Ok(()), "{s}");
        }
        let bad = [
            "",
            "* * * *",
            "* * * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "a * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "@often",
            "@every",
            "@every 10",
            "CRON_TZ=Nowhere/City * * * * *",
            "CRON_TZ=UTC",
            "? * * * *",
            "1,,2 * * * *",
        ];
        for s in bad {
            assert!(validate_cron(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64(""), Some(vec![]));
        assert_eq!(decode_base64("aGVsbG8"), None);
        assert!(decode_base64("a$==").is_none());
    }

    #[test]
    fn defaults() {
        let r = resource();
        let mut obj = sample();
        unset(&mut obj, "schedule");
        let out = admit(&r, obj).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["spec"]["schedule"], json!(DEFAULT_SCHEDULE));
        assert_eq!(out["spec"]["sink"]["ref"]["namespace"], json!("default"));
    }

    #[test]
    fn validation_errors() {
        let r = resource();
        type Mutate = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutate, Vec<&str>)> = vec![
            ("valid", Box::new(|_| {}), vec![]),
            (
                "bad schedule",
                Box::new(|o| o["spec"]["schedule"] = json!("* * *")),
                vec!["spec.schedule"],
            ),
            (
                "bad timezone",
                Box::new(|o| o["spec"]["timezone"] = json!("Mars/Olympus")),
                vec!["spec.timezone"],
            ),
            (
                "good timezone",
                Box::new(|o| o["spec"]["timezone"] = json!("Asia/Tokyo")),
                vec![],
            ),
            (
                "data and dataBase64",
                Box::new(|o| o["spec"]["dataBase64"] = json!("aGk=")),
                vec!["spec"],
            ),
            (
                "bad base64",
                Box::new(|o| {
                    unset(o, "data");
                    unset(o, "contentType");
                    o["spec"]["dataBase64"] = json!("not base64!");
                }),
                vec!["spec.dataBase64"],
            ),
            (
                "base64 not json",
                Box::new(|o| {
                    unset(o, "data");
                    o["spec"]["dataBase64"] = json!("aGk=");
                }),
                vec!["spec.dataBase64"],
            ),
            (
                "data not json",
                Box::new(|o| o["spec"]["data"] = json!("hello")),
                vec!["spec.data"],
            ),
            ("no sink", Box::new(|o| unset(o, "sink")), vec!["spec.sink"]),
            (
                "sink without name",
                Box::new(|o| o["spec"]["sink"]["ref"]["name"] = json!("")),
                vec!["spec.sink.ref.name"],
            ),
            (
                "ce override of type",
                Box::new(|o| {
                    o["spec"]["ceOverrides"] = json!({"extensions": {"type": "x", "ok": "y"}})
                }),
                vec!["spec.ceOverrides.extensions.type"],
            ),
        ];
        for (name, edit, want) in cases {
            let mut obj = sample();
            edit(&mut obj);
            let got = match admit(&r, obj) {
                Ok(_) => vec![],
                Err(e) => paths(&e),
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn v1beta2_is_same_shape() {
        let r = resource();
        let mut obj = sample();
        obj["apiVersion"] = json!("sources.knative.dev/v1beta2");
        let (stored, back) = round_trip(&r, "sources.knative.dev/v1beta2", KIND, obj.clone());
        assert_eq!(stored["apiVersion"], json!(API_VERSION));
        assert_eq!(back, obj);
    }

    #[test]
    fn cronjobsource_round_trip() {
        let r = resource();
        let legacy = json!({
            "apiVersion": LEGACY_API_VERSION, "kind": LEGACY_KIND,
            "metadata": {"name": "cron", "namespace": "default"},
            "spec": {
                "schedule": "*/2 * * * *",
                "data": "{\"message\": \"Hello world!\"}",
                "serviceAccountName": "robot",
                "resources": {"requests": {"cpu": "250m"}},
                "sink": {"apiVersion": "serving.knative.dev/v1alpha1", "kind": "Service",
                         "name": "event-display"}
            }
        });
        let (stored, back) = round_trip(&r, LEGACY_API_VERSION, LEGACY_KIND, legacy.clone());
        assert_eq!(stored["apiVersion"], json!(API_VERSION));
        assert_eq!(
            stored["spec"],
            json!({"schedule": "*/2 * * * *", "data": "{\"message\": \"Hello world!\"}",
                   "sink": {"ref": {"apiVersion": "serving.knative.dev/v1alpha1",
                                    "kind": "Service", "name": "event-display"}}})
        );
        assert_eq!(
            stored["metadata"]["annotations"]["herald.dev/v1alpha1-serviceAccountName"],
            json!("\"robot\"")
        );
        assert_eq!(back, legacy);
        // The stored form admits (defaults + validation).
        admit(&r, stored).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn storage_only_fields_survive_legacy_view() {
        let r = resource();
        let mut stored = sample();
        stored["spec"]["timezone"] = json!("UTC");
        stored["spec"]["sink"] = json!({"uri": "http://example.com/x"});
        stored["spec"]["ceOverrides"] = json!({"extensions": {"team": "a"}});
        let v = served(&r, LEGACY_API_VERSION, LEGACY_KIND);
        let legacy = (v.from_storage)(stored.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(legacy["spec"].get("timezone"), None);
        assert_eq!(legacy["spec"].get("sink"), None);
        let again = (v.to_storage)(legacy).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, stored);
    }
}
