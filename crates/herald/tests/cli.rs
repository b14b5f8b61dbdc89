//! Herald's own CLI for users without kubectl (`apply`, `get`, `delete`), `herald kubeconfig`
//! used by kubectl, and the API token on non-loopback addresses.

mod common;

use std::process::Command;

use common::{Herald, data, kubectl_path};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn herald_apply_get_delete() {
    let h = Herald::start();
    let out = ok(h.cli(&["apply", "-f", &data("seeds")]));
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
    let again = ok(h.cli(&["apply", "-f", &data("seeds/broker.yaml")]));
    assert!(
        again.contains("broker.eventing.knative.dev/default unchanged"),
        "{again}"
    );

    let table = ok(h.cli(&["get", "brokers"]));
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "URL", "AGE", "READY", "REASON", "CLASS"],
        "{table}"
    );
    assert!(
        table.contains(&format!("{}/default/default", h.ingress)),
        "{table}"
    );
    let yaml = ok(h.cli(&["get", "trigger", "my-service-trigger", "-o", "yaml"]));
    assert!(yaml.contains("subscriber:"), "{yaml}");
    let names = ok(h.cli(&["get", "imc,brokers", "-o", "name"]));
    assert!(
        names.contains("broker.eventing.knative.dev/default"),
        "{names}"
    );

    let del = ok(h.cli(&["delete", "-f", &data("seeds/trigger.yaml")]));
    assert!(
        del.contains("trigger.eventing.knative.dev \"my-service-trigger\" deleted"),
        "{del}"
    );
    let del = ok(h.cli(&["delete", "broker", "default"]));
    assert!(del.contains("deleted"), "{del}");
    let missing = h.cli(&["delete", "broker", "default"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[test]
fn herald_cli_reports_bad_input_clearly() {
    let h = Herald::start();
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n").expect("write");
    let out = h.cli(&["apply", "-f", bad.to_str().unwrap_or_default()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid YAML"), "{err}");
    let unknown = dir.path().join("unknown.yaml");
    std::fs::write(
        &unknown,
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    )
    .expect("write");
    let out = h.cli(&["apply", "-f", unknown.to_str().unwrap_or_default()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no kind \"Gadget\""));
    let out = h.cli(&["get", "gadgets"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("doesn't have a resource type \"gadgets\"")
    );
    // Nothing listening: a readable message, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["get", "brokers", "--server", "http://127.0.0.1:9"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach Herald"));
}

#[test]
fn kubeconfig_with_generated_token_and_tls_on_non_loopback() {
    let dir = tempfile::tempdir().expect("tmp");
    let data_dir = dir.path().join("data");
    let h = Herald::start_with(&data_dir, &["--api-addr", "0.0.0.0:0"]);
    assert!(
        h.api.starts_with("https://"),
        "a token-protected API speaks TLS: {}",
        h.api
    );
    let token = std::fs::read_to_string(data_dir.join("api-token")).expect("token file written");
    assert!(token.trim().len() >= 32);
    let port = h.api.rsplit(':').next().unwrap_or_default().to_string();

    // `herald kubeconfig` prints what `herald serve` wrote: server, CA and token.
    let kubeconfig = ok(Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["kubeconfig", "--data-dir"])
        .arg(&data_dir)
        .output()
        .expect("kubeconfig"));
    assert!(
        kubeconfig.contains(&format!("server: https://127.0.0.1:{port}")),
        "{kubeconfig}"
    );
    assert!(
        kubeconfig.contains("certificate-authority-data: "),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains(token.trim()));
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, &kubeconfig).expect("write kubeconfig");
    let cache = dir.path().join("cache");
    let out = Command::new(kubectl_path())
        .args(["get", "namespaces", "--cache-dir"])
        .arg(&cache)
        .env("KUBECONFIG", &kc)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("default"));

    // Without the token: refused.
    let out = Command::new(kubectl_path())
        .args([
            "--server",
            &format!("https://127.0.0.1:{port}"),
            "--insecure-skip-tls-verify",
            "--cache-dir",
        ])
        .arg(cache.join("2"))
        .args(["get", "namespaces"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl");
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // kubectl answers a 401 over TLS by asking for a username, which fails without a terminal.
    assert!(
        ["Unauthorized", "credentials", "Username"]
            .iter()
            .any(|w| said.contains(w)),
        "{said}"
    );

    // The herald CLI finds server, CA and token in the data directory.
    let out = ok(Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["get", "namespaces"])
        .env("HERALD_DATA_DIR", &data_dir)
        .env_remove("HERALD_SERVER")
        .output()
        .expect("herald get"));
    assert!(out.contains("default"), "{out}");
}
