//! Number ranges, declared once in the JSON Schema (`#[schemars(range(min = .., max = ..))]` on
//! a field) and enforced here with the position of the offending value: the YAML is walked beside
//! the schema, and every number is checked against the `minimum`/`maximum` of its place. So the
//! schema editors see and the checks `lookout validate` makes cannot drift apart.

use std::path::Path;

use granit_parser::{Event, Parser};
use serde_json::Value;

use super::ConfigError;

/// A YAML node with the position of its first character (1-based line and column).
enum Node {
    Scalar {
        text: String,
        line: u64,
        column: u64,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(String, Node)>),
    /// An alias, or anything the walk does not look into.
    Other,
}

/// Checks every number of the YAML `text` against the ranges of `schema` (a JSON Schema with
/// `$defs`); the first number out of range is the error. Text that is not valid YAML passes: the
/// YAML parser reports it.
pub fn check(text: &str, schema: &Value, file: &Path) -> Result<(), ConfigError> {
    let Some(root) = parse(text) else {
        return Ok(());
    };
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    walk(&root, &[schema], &defs, file, "")
}

/// The first document of `text` as a tree, or `None` when it does not parse.
fn parse(text: &str) -> Option<Node> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        events.push((event, span));
    }
    let mut i = events
        .iter()
        .position(|(e, _)| matches!(e, Event::DocumentStart(..)))?
        + 1;
    build(&events, &mut i)
}

fn build(events: &[(Event<'_>, granit_parser::Span)], i: &mut usize) -> Option<Node> {
    let (event, span) = events.get(*i)?;
    *i += 1;
    Some(match event {
        Event::Scalar(value, ..) => Node::Scalar {
            text: value.to_string(),
            line: span.start.line() as u64,
            column: span.start.col() as u64 + 1,
        },
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            while !matches!(events.get(*i)?.0, Event::SequenceEnd) {
                items.push(build(events, i)?);
            }
            *i += 1;
            Node::Sequence(items)
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            while !matches!(events.get(*i)?.0, Event::MappingEnd) {
                let key = match build(events, i)? {
                    Node::Scalar { text, .. } => text,
                    _ => String::new(),
                };
                entries.push((key, build(events, i)?));
            }
            *i += 1;
            Node::Mapping(entries)
        }
        _ => Node::Other,
    })
}

/// `schema` with `$ref`s resolved and `anyOf`/`oneOf`/`allOf` branches flattened into the
/// list of schemas a value there may match.
fn alternatives<'a>(schema: &'a Value, defs: &'a Value, out: &mut Vec<&'a Value>, depth: u32) {
    if depth > 32 {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(name) = r.strip_prefix("#/$defs/")
            && let Some(def) = defs.get(name)
        {
            alternatives(def, defs, out, depth + 1);
        }
        return;
    }
    let mut branched = false;
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            branched = true;
            for s in list {
                alternatives(s, defs, out, depth + 1);
            }
        }
    }
    if !branched || schema.get("properties").is_some() || schema.get("minimum").is_some() {
        out.push(schema);
    }
}

fn walk(
    node: &Node,
    schemas: &[&Value],
    defs: &Value,
    file: &Path,
    path: &str,
) -> Result<(), ConfigError> {
    let mut flat = Vec::new();
    for s in schemas {
        alternatives(s, defs, &mut flat, 0);
    }
    match node {
        Node::Scalar { text, line, column } => {
            let Ok(v) = text.trim().parse::<f64>() else {
                return Ok(());
            };
            let numeric: Vec<&&Value> = flat
                .iter()
                .filter(|s| s.get("minimum").is_some() || s.get("maximum").is_some())
                .collect();
            if numeric.is_empty() || numeric.iter().any(|s| within(s, v)) {
                return Ok(());
            }
            let s = numeric[0];
            let lo = s.get("minimum").and_then(Value::as_f64);
            let hi = s.get("maximum").and_then(Value::as_f64);
            let range = match (lo, hi) {
                (Some(lo), Some(hi)) => format!("{} to {}", show(lo), show(hi)),
                (Some(lo), None) => format!("at least {}", show(lo)),
                (None, Some(hi)) => format!("at most {}", show(hi)),
                (None, None) => unreachable!("filtered on minimum or maximum"),
            };
            let what = if path.is_empty() { "value" } else { path };
            Err(ConfigError::at(
                file,
                *line,
                *column,
                format!("`{what}` must be {range}, got {}", text.trim()),
            ))
        }
        Node::Sequence(items) => {
            let children: Vec<&Value> = flat.iter().filter_map(|s| s.get("items")).collect();
            for item in items {
                walk(item, &children, defs, file, path)?;
            }
            Ok(())
        }
        Node::Mapping(entries) => {
            for (key, value) in entries {
                let children: Vec<&Value> = flat
                    .iter()
                    .filter_map(|s| {
                        s.get("properties")
                            .and_then(|p| p.get(key))
                            .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
                    })
                    .collect();
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(value, &children, defs, file, &child_path)?;
            }
            Ok(())
        }
        Node::Other => Ok(()),
    }
}

fn within(schema: &Value, v: f64) -> bool {
    let lo = schema.get("minimum").and_then(Value::as_f64);
    let hi = schema.get("maximum").and_then(Value::as_f64);
    lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi) && v.is_finite()
}

/// A bound as people write it: `1024`, not `1024.0`.
fn show(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The numeric properties of `schema` (with `$defs`) that lack a `minimum` or a `maximum`, as
/// dotted paths: every number a file can hold should have a sane range.
pub fn unbounded(schema: &Value) -> Vec<String> {
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    unbounded_in(schema, &defs, "", &mut out, &mut seen);
    out.sort();
    out.dedup();
    out
}

fn unbounded_in(
    schema: &Value,
    defs: &Value,
    path: &str,
    out: &mut Vec<String>,
    seen: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if seen.iter().any(|s| s == r) {
            return;
        }
        seen.push(r.to_string());
        if let Some(def) = r.strip_prefix("#/$defs/").and_then(|n| defs.get(n)) {
            unbounded_in(def, defs, path, out, seen);
        }
        seen.pop();
        return;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            unbounded_in(s, defs, path, out, seen);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.iter().any(|t| *t == "integer" || *t == "number")
        && (schema.get("minimum").is_none() || schema.get("maximum").is_none())
    {
        out.push(if path.is_empty() {
            "(root)".into()
        } else {
            path.to_string()
        });
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            unbounded_in(v, defs, &p, out, seen);
        }
    }
    if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        unbounded_in(a, defs, &format!("{path}.*"), out, seen);
    }
    if let Some(items) = schema.get("items") {
        unbounded_in(items, defs, &format!("{path}[]"), out, seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "queue": {"type": "integer", "minimum": 1, "maximum": 64},
                "size": {"anyOf": [{"$ref": "#/$defs/Size"}, {"type": "null"}]},
                "sinks": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "properties": {"file": {"$ref": "#/$defs/File"}}},
                    {"type": "object", "properties": {"mqtt": {"$ref": "#/$defs/Mqtt"}}}
                ]}},
                "models": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Mqtt"}}
            },
            "$defs": {
                "Size": {"type": "object", "properties": {"w": {"type": ["integer", "null"], "minimum": 1, "maximum": 8192}}},
                "File": {"type": "object", "properties": {"keep": {"type": "integer", "minimum": 0, "maximum": 100}}},
                "Mqtt": {"type": "object", "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}, "free": {"type": "number"}}}
            }
        })
    }

    fn err(text: &str) -> Option<(u64, u64, String)> {
        check(text, &schema(), Path::new("p.yaml"))
            .err()
            .map(|e| (e.line, e.column, e.message))
    }

    #[test]
    fn numbers_in_range_pass() {
        assert_eq!(
            err("queue: 4\nsize: {w: 640}\nsinks:\n  - file: {keep: 3}\n"),
            None
        );
        assert_eq!(err("not: [valid"), None);
        assert_eq!(err("models: {a: {port: 1883, free: 1e300}}"), None);
    }

    #[test]
    fn numbers_out_of_range_are_positioned() {
        assert_eq!(
            err("queue: 18446744073709551615\n"),
            Some((
                1,
                8,
                "`queue` must be 1 to 64, got 18446744073709551615".into()
            ))
        );
        assert_eq!(
            err("size:\n  w: 0\n"),
            Some((2, 6, "`size.w` must be 1 to 8192, got 0".into()))
        );
        assert_eq!(
            err("sinks:\n  - file: {keep: 1000}\n"),
            Some((2, 18, "`sinks.file.keep` must be 0 to 100, got 1000".into()))
        );
        assert_eq!(
            err("models:\n  cam: {port: 70000}\n"),
            Some((
                2,
                15,
                "`models.cam.port` must be 1 to 65535, got 70000".into()
            ))
        );
    }

    #[test]
    fn unbounded_numbers_are_listed() {
        assert_eq!(unbounded(&schema()), ["models.*.free", "sinks[].mqtt.free"]);
    }
}
