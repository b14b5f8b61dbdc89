//! Reading manifests: files, directories and standard input, multi-document YAML or JSON,
//! and `kind: List` objects.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One object read from a manifest, with where it came from (for messages).
pub struct Manifest {
    pub origin: String,
    pub object: Value,
}

/// Reads every object named by `-f` arguments.
pub fn read_all(files: &[String]) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for f in files {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            out.extend(parse("<stdin>", &text)?);
            continue;
        }
        let path = Path::new(f);
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {f}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .collect();
            entries.sort();
            for p in entries {
                out.extend(read_file(&p)?);
            }
        } else {
            out.extend(read_file(path)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<Manifest>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&path.display().to_string(), &text)
}

/// Parses multi-document YAML (JSON is YAML too) into objects, flattening `List`s.
pub fn parse(origin: &str, text: &str) -> Result<Vec<Manifest>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| anyhow::anyhow!("{origin}: invalid YAML: {e}"))?;
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => continue,
            Value::Object(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.contains_key("items") =>
            {
                for item in m
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    out.push(check(origin, item)?);
                }
            }
            other => out.push(check(origin, other)?),
        }
    }
    Ok(out)
}

fn check(origin: &str, v: Value) -> Result<Manifest> {
    let Some(m) = v.as_object() else {
        bail!("{origin}: a document is not an object: {v}")
    };
    for field in ["apiVersion", "kind"] {
        if !m.get(field).is_some_and(Value::is_string) {
            bail!("{origin}: object is missing {field}");
        }
    }
    let named = m
        .get("metadata")
        .and_then(|md| md.get("name").or_else(|| md.get("generateName")));
    if !named.is_some_and(Value::is_string) {
        bail!("{origin}: object is missing metadata.name");
    }
    Ok(Manifest {
        origin: origin.to_string(),
        object: v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_and_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let docs = parse("t", text).unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert!(parse("t", "kind: X\n").is_err());
        assert!(parse("t", "a: [").is_err());
    }
}
