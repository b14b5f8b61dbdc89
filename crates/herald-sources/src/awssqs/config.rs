//! What one AwsSqsSource needs to poll, resolved from its spec, its Secret and `herald serve`'s
//! environment — pure, so every rule is unit-tested.

use herald_api::sources::awssqs::AwsSqsSourceSpec;

use super::sigv4::Credentials;

/// Region used when neither the queue URL nor the environment names one (moto accepts any).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The `AWS_*` variables of `herald serve`'s environment that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub default_region: Option<String>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            region: var("AWS_REGION"),
            default_region: var("AWS_DEFAULT_REGION"),
        }
    }
}

/// Where and how to call SQS for one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub queue_url: String,
    /// `scheme://host[:port]/`: the queue URL's own host is the endpoint, so a local emulator
    /// (moto: `http://127.0.0.1:5000/123456789012/q`) needs no extra setting.
    pub endpoint: String,
    /// The `Host` header as the HTTP client sends it (port only when not the scheme's default).
    pub host: String,
    pub region: String,
    pub credentials: Credentials,
}

/// Why a source cannot poll; `reason()` is the condition reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the spec does not decode: {0}")]
    Spec(String),
    #[error("spec.queueUrl {0:?} is not an http(s) URL with a host")]
    QueueUrl(String),
    #[error("key {key:?} of Secret {name:?} (spec.awsCredsSecret) was not found")]
    SecretNotFound { name: String, key: String },
    #[error(
        "Secret {name:?} key {key:?} (spec.awsCredsSecret) holds no aws_access_key_id and aws_secret_access_key in a [default] profile"
    )]
    BadCredentialsFile { name: String, key: String },
    #[error(
        "no AWS credentials: set spec.awsCredsSecret, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in herald serve's environment"
    )]
    NoCredentials,
}

impl ConfigError {
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::Spec(_) | ConfigError::QueueUrl(_) => "InvalidSpec",
            ConfigError::SecretNotFound { .. } => "SecretNotFound",
            ConfigError::BadCredentialsFile { .. } => "InvalidCredentials",
            ConfigError::NoCredentials => "NoCredentials",
        }
    }
}

/// Resolves the target. `secret` is the resolved `spec.awsCredsSecret` value, if any.
pub fn resolve(
    spec: &serde_json::Value,
    secret: Option<&str>,
    env: &Env,
) -> Result<Target, ConfigError> {
    let spec: AwsSqsSourceSpec =
        serde_json::from_value(spec.clone()).map_err(|e| ConfigError::Spec(e.to_string()))?;
    let bad_url = || ConfigError::QueueUrl(spec.queue_url.clone());
    let url = reqwest::Url::parse(&spec.queue_url).map_err(|_| bad_url())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad_url());
    }
    let host_name = url.host_str().ok_or_else(bad_url)?.to_string();
    let host = match url.port() {
        Some(p) => format!("{host_name}:{p}"),
        None => host_name.clone(),
    };
    let endpoint = format!("{}://{host}/", url.scheme());
    let region = region_of_host(&host_name)
        .or_else(|| env.region.clone())
        .or_else(|| env.default_region.clone())
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let credentials = match (&spec.aws_creds_secret, secret) {
        (Some(sel), Some(file)) => {
            parse_credentials_file(file).ok_or_else(|| ConfigError::BadCredentialsFile {
                name: sel.name.clone(),
                key: sel.key.clone(),
            })?
        }
        (Some(sel), None) => {
            return Err(ConfigError::SecretNotFound {
                name: sel.name.clone(),
                key: sel.key.clone(),
            });
        }
        (None, _) => match (&env.access_key_id, &env.secret_access_key) {
            (Some(id), Some(secret)) => Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: env.session_token.clone(),
            },
            _ => return Err(ConfigError::NoCredentials),
        },
    };
    Ok(Target {
        queue_url: spec.queue_url,
        endpoint,
        host,
        region,
        credentials,
    })
}

/// The region of an AWS SQS host (`sqs.<region>.amazonaws.com[.cn]`, the legacy
/// `<region>.queue.amazonaws.com`); `None` for any other host (an emulator).
pub fn region_of_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let aws = labels.windows(2).any(|w| w == ["amazonaws", "com"]);
    if !aws {
        return None;
    }
    match labels.as_slice() {
        ["sqs", region, ..] if *region != "amazonaws" => Some((*region).to_string()),
        [region, "queue", ..] => Some((*region).to_string()),
        _ => None,
    }
}

/// Reads an AWS shared credentials file (what eventing-awssqs mounts from `awsCredsSecret`):
/// the `[default]` profile, or the only profile when there is just one.
pub fn parse_credentials_file(text: &str) -> Option<Credentials> {
    let mut profiles: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            profiles.push((name.trim().to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=')
            && let Some((_, entries)) = profiles.last_mut()
        {
            entries.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let entries = match profiles.iter().find(|(n, _)| n == "default") {
        Some((_, e)) => e,
        None if profiles.len() == 1 => &profiles[0].1,
        None => return None,
    };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(ek, _)| ek == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    Some(Credentials {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: get("aws_secret_access_key")?,
        session_token: get("aws_session_token"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn env() -> Env {
        Env {
            access_key_id: Some("AKENV".into()),
            secret_access_key: Some("envsecret".into()),
            ..Env::default()
        }
    }

    const FILE: &str = "[default]\naws_access_key_id = AKFILE\naws_secret_access_key=filesecret\n";

    #[test]
    fn targets() {
        let ok = resolve(
            &json!({"queueUrl": "http://127.0.0.1:5000/123456789012/q"}),
            None,
            &env(),
        )
        .unwrap();
        assert_eq!(ok.endpoint, "http://127.0.0.1:5000/");
        assert_eq!(ok.host, "127.0.0.1:5000");
        assert_eq!(ok.region, DEFAULT_REGION);
        assert_eq!(ok.credentials.access_key_id, "AKENV");

        let aws = resolve(
            &json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q",
                    "awsCredsSecret": {"name": "aws", "key": "credentials"}}),
            Some(FILE),
            &env(),
        )
        .unwrap();
        assert_eq!(aws.endpoint, "https://sqs.eu-west-1.amazonaws.com/");
        assert_eq!(aws.host, "sqs.eu-west-1.amazonaws.com");
        assert_eq!(aws.region, "eu-west-1");
        assert_eq!(aws.credentials.access_key_id, "AKFILE");
        assert_eq!(aws.credentials.secret_access_key, "filesecret");

        let env_region = Env {
            default_region: Some("ap-south-1".into()),
            ..env()
        };
        let r = resolve(
            &json!({"queueUrl": "http://localhost/1/q"}),
            None,
            &env_region,
        );
        assert_eq!(r.unwrap().region, "ap-south-1");
    }

    #[test]
    fn errors() {
        let sel = json!({"name": "aws", "key": "credentials"});
        let cases: &[(serde_json::Value, Option<&str>, Env, &str)] = &[
            (json!({"queueUrl": "my-queue"}), None, env(), "InvalidSpec"),
            (
                json!({"queueUrl": "ftp://h/1/q"}),
                None,
                env(),
                "InvalidSpec",
            ),
            (json!({"queueUrl": 3}), None, env(), "InvalidSpec"),
            (
                json!({"queueUrl": "http://h/1/q", "awsCredsSecret": sel}),
                None,
                env(),
                "SecretNotFound",
            ),
            (
                json!({"queueUrl": "http://h/1/q", "awsCredsSecret": sel}),
                Some("[other]\nx=1\n[more]\n"),
                env(),
                "InvalidCredentials",
            ),
            (
                json!({"queueUrl": "http://h/1/q"}),
                None,
                Env::default(),
                "NoCredentials",
            ),
        ];
        for (spec, secret, env, reason) in cases {
            let err = resolve(spec, *secret, env).unwrap_err();
            assert_eq!(err.reason(), *reason, "{spec} → {err}");
        }
    }

    #[test]
    fn regions() {
        let cases = [
            ("sqs.us-west-2.amazonaws.com", Some("us-west-2")),
            ("sqs.cn-north-1.amazonaws.com.cn", Some("cn-north-1")),
            ("eu-west-1.queue.amazonaws.com", Some("eu-west-1")),
            ("127.0.0.1", None),
            ("sqs.example.com", None),
            ("localhost", None),
        ];
        for (host, want) in cases {
            assert_eq!(region_of_host(host).as_deref(), want, "{host}");
        }
    }

    #[test]
    fn credentials_files() {
        let only = "[prod]\naws_access_key_id=A\naws_secret_access_key=S\naws_session_token=T\n";
        let c = parse_credentials_file(only).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("A", Some("T"))
        );
        let two = "# comment\n[prod]\naws_access_key_id=P\naws_secret_access_key=P\n[default]\naws_access_key_id=D\naws_secret_access_key=D\n";
        assert_eq!(parse_credentials_file(two).unwrap().access_key_id, "D");
        assert!(parse_credentials_file("[default]\naws_access_key_id=A\n").is_none());
        assert!(parse_credentials_file("").is_none());
    }
}
