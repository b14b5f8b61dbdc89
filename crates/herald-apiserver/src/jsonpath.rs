//! The simple JSONPath subset CRD printer columns use: `.a.b`, escaped dots
//! (`.metadata.annotations.eventing\.knative\.dev/broker\.class`), `[0]`, `[*]`, `['key']`
//! and filters `[?(@.type=="Ready")]` (with `==` or `!=`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    Index(usize),
    All,
    Filter {
        path: Vec<Seg>,
        negate: bool,
        value: Value,
    },
}

/// A compiled path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<Seg>);

impl JsonPath {
    pub fn parse(src: &str) -> Result<Self, String> {
        let s = src.trim();
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let s = s.strip_prefix('$').unwrap_or(s);
        let chars: Vec<char> = s.chars().collect();
        parse_segs(&chars, src).map(JsonPath)
    }

    /// Every value the path selects.
    pub fn eval<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![v];
        for seg in &self.0 {
            let mut next = Vec::new();
            for v in cur {
                step(seg, v, &mut next);
            }
            cur = next;
        }
        cur
    }
}

fn step<'a>(seg: &Seg, v: &'a Value, out: &mut Vec<&'a Value>) {
    match seg {
        Seg::Field(name) => {
            if let Some(x) = v.get(name.as_str()) {
                out.push(x);
            }
        }
        Seg::Index(i) => {
            if let Some(x) = v.as_array().and_then(|a| a.get(*i)) {
                out.push(x);
            }
        }
        Seg::All => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        },
        Seg::Filter {
            path,
            negate,
            value,
        } => {
            if let Value::Array(a) = v {
                for item in a {
                    let sub = JsonPath(path.clone());
                    let hit = sub.eval(item).first().is_some_and(|x| *x == value);
                    if hit != *negate {
                        out.push(item);
                    }
                }
            }
        }
    }
}

fn parse_segs(c: &[char], src: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < c.len() && c[i] != '.' && c[i] != '[' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        i += 1;
                    }
                    name.push(c[i]);
                    i += 1;
                }
                if name == "*" {
                    segs.push(Seg::All);
                } else if !name.is_empty() {
                    segs.push(Seg::Field(name));
                }
            }
            '[' => {
                let start = i + 1;
                let mut j = start;
                let mut quote: Option<char> = None;
                while j < c.len() {
                    match (quote, c[j]) {
                        (None, '"' | '\'') => quote = Some(c[j]),
                        (Some(q), ch) if ch == q => quote = None,
                        (None, ']') => break,
                        _ => {}
                    }
                    j += 1;
                }
                if j >= c.len() {
                    return Err(format!("unclosed [ in JSONPath {src:?}"));
                }
                let inner: String = c[start..j].iter().collect();
                segs.push(parse_bracket(inner.trim(), src)?);
                i = j + 1;
            }
            ' ' => i += 1,
            other => {
                // A leading bare name (`metadata.name`) is accepted like `.metadata.name`.
                if segs.is_empty() && i == 0 && other.is_alphanumeric() {
                    let mut rest = vec!['.'];
                    rest.extend_from_slice(c);
                    return parse_segs(&rest, src);
                }
                return Err(format!("unexpected {other:?} in JSONPath {src:?}"));
            }
        }
    }
    Ok(segs)
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
}

fn parse_bracket(inner: &str, src: &str) -> Result<Seg, String> {
    if inner == "*" {
        return Ok(Seg::All);
    }
    if let Ok(n) = inner.parse::<usize>() {
        return Ok(Seg::Index(n));
    }
    if let Some(name) = unquote(inner) {
        return Ok(Seg::Field(name.to_string()));
    }
    let filter = inner
        .strip_prefix("?(")
        .and_then(|f| f.strip_suffix(')'))
        .ok_or_else(|| format!("unsupported [{inner}] in JSONPath {src:?}"))?;
    let (lhs, rhs, negate) = if let Some((l, r)) = filter.split_once("==") {
        (l, r, false)
    } else if let Some((l, r)) = filter.split_once("!=") {
        (l, r, true)
    } else {
        return Err(format!("unsupported filter {filter:?} in JSONPath {src:?}"));
    };
    let lhs = lhs
        .trim()
        .strip_prefix('@')
        .ok_or_else(|| format!("filter must start with @ in JSONPath {src:?}"))?;
    let rhs = rhs.trim();
    let value = match unquote(rhs) {
        Some(s) => Value::String(s.to_string()),
        None => serde_json::from_str(rhs)
            .map_err(|_| format!("unsupported literal {rhs:?} in JSONPath {src:?}"))?,
    };
    let lhs_chars: Vec<char> = lhs.chars().collect();
    Ok(Seg::Filter {
        path: parse_segs(&lhs_chars, src)?,
        negate,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_printer_column_paths() {
        let obj = json!({
            "metadata": {"name": "b", "annotations": {"eventing.knative.dev/broker.class": "MTChannelBasedBroker"}},
            "spec": {"items": [{"n": 1}, {"n": 2}]},
            "status": {"conditions": [
                {"type": "Addressable", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "NotFound"}
            ], "address": {"url": "http://x"}}
        });
        let cases: Vec<(&str, Vec<Value>)> = vec![
            (".metadata.name", vec![json!("b")]),
            ("{.metadata.name}", vec![json!("b")]),
            ("metadata.name", vec![json!("b")]),
            (
                ".metadata.annotations.eventing\\.knative\\.dev/broker\\.class",
                vec![json!("MTChannelBasedBroker")],
            ),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                vec![json!("False")],
            ),
            (
                ".status.conditions[?(@.type=='Ready')].reason",
                vec![json!("NotFound")],
            ),
            (
                ".status.conditions[?(@.type!=\"Ready\")].type",
                vec![json!("Addressable")],
            ),
            (".spec.items[*].n", vec![json!(1), json!(2)]),
            (".spec.items[1].n", vec![json!(2)]),
            (".status['address'].url", vec![json!("http://x")]),
            (".status.missing.url", vec![]),
        ];
        for (p, want) in cases {
            let jp = JsonPath::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            let got: Vec<Value> = jp.eval(&obj).into_iter().cloned().collect();
            assert_eq!(got, want, "{p}");
        }
        assert!(JsonPath::parse(".a[").is_err());
        assert!(JsonPath::parse(".a[?(@.x>1)]").is_err());
    }
}
