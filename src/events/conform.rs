//! A small JSON Schema checker for the subset of JSON Schema 2020-12 that `schemars` emits for
//! events: enough to prove that what lookout writes (e.g. `events.jsonl`) matches what
//! `lookout schema --events` promises, without a validator dependency.
//!
//! Supported: `$ref` (to `#/$defs/...`), `type`, `const`, `enum`, `properties`, `required`,
//! `additionalProperties`, `items`, `minItems`, `maxItems`, `minimum`, `maximum`, `oneOf`, `anyOf`,
//! `allOf`, and `format` (`date-time`, `uint*`, `int*`, `float`, `double`). Annotations are ignored;
//! any other keyword is an error, so the checker never passes a schema it does not understand.

use serde_json::Value;

/// Keywords that carry no constraint.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Checks `instance` against `schema` (its root holds the `$defs`); the error names the JSON
/// pointer of the first mismatch.
pub fn check(schema: &Value, instance: &Value) -> Result<(), String> {
    Checker { root: schema }.node(schema, instance, "")
}

struct Checker<'a> {
    root: &'a Value,
}

impl Checker<'_> {
    fn node(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let obj = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
            Value::Object(o) => o,
            _ => return Err(format!("{at}: schema is neither an object nor a boolean")),
        };
        for (key, s) in obj {
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => {
                    let target = s
                        .as_str()
                        .and_then(|r| r.strip_prefix('#'))
                        .and_then(|p| self.root.pointer(p))
                        .ok_or_else(|| format!("{at}: unresolvable $ref {s}"))?;
                    self.node(target, v, at)?;
                }
                "type" => {
                    let ok = match s {
                        Value::String(t) => type_matches(t, v),
                        Value::Array(ts) => ts
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|t| type_matches(t, v)),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{at}: expected type {s}, got {v}"));
                    }
                }
                "const" if v != s => return Err(format!("{at}: expected {s}, got {v}")),
                "const" => {}
                "enum" => {
                    if !s.as_array().is_some_and(|e| e.contains(v)) {
                        return Err(format!("{at}: {v} is not one of {s}"));
                    }
                }
                "properties" => {
                    if let (Some(props), Some(o)) = (s.as_object(), v.as_object()) {
                        for (name, ps) in props {
                            if let Some(pv) = o.get(name) {
                                self.node(ps, pv, &format!("{at}/{name}"))?;
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for name in s.as_array().into_iter().flatten().filter_map(Value::as_str) {
                            if !o.contains_key(name) {
                                return Err(format!("{at}: missing required field `{name}`"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = v.as_object() {
                        let props = obj.get("properties").and_then(Value::as_object);
                        for (name, pv) in o {
                            if !props.is_some_and(|p| p.contains_key(name)) {
                                self.node(s, pv, &format!("{at}/{name}"))?;
                            }
                        }
                    }
                }
                "items" => {
                    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                        self.node(s, item, &format!("{at}/{i}"))?;
                    }
                }
                "minItems" | "maxItems" => {
                    if let (Some(n), Some(a)) = (s.as_u64(), v.as_array()) {
                        let len = a.len() as u64;
                        if (key == "minItems" && len < n) || (key == "maxItems" && len > n) {
                            return Err(format!("{at}: {len} items breaks {key} {n}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(n), Some(x)) = (s.as_f64(), v.as_f64())
                        && ((key == "minimum" && x < n) || (key == "maximum" && x > n))
                    {
                        return Err(format!("{at}: {x} breaks {key} {n}"));
                    }
                }
                "format" => format_matches(s.as_str().unwrap_or(""), v, at)?,
                "allOf" => {
                    for sub in s.as_array().into_iter().flatten() {
                        self.node(sub, v, at)?;
                    }
                }
                "anyOf" | "oneOf" => {
                    let subs = s.as_array().map(Vec::as_slice).unwrap_or_default();
                    let errors: Vec<String> = subs
                        .iter()
                        .filter_map(|sub| self.node(sub, v, at).err())
                        .collect();
                    let passed = subs.len() - errors.len();
                    if passed == 0 {
                        return Err(format!(
                            "{at}: matches none of {key}: {}",
                            errors.join("; ")
                        ));
                    }
                    if key == "oneOf" && passed > 1 {
                        return Err(format!("{at}: matches {passed} branches of oneOf"));
                    }
                }
                other => return Err(format!("{at}: unsupported schema keyword `{other}`")),
            }
        }
        Ok(())
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn format_matches(format: &str, v: &Value, at: &str) -> Result<(), String> {
    let ok = match format {
        "date-time" => v.as_str().is_none_or(is_rfc3339),
        f if f.starts_with("uint") => v.is_null() || v.is_u64(),
        f if f.starts_with("int") => v.is_null() || v.is_i64() || v.is_u64(),
        "float" | "double" => true,
        _ => return Err(format!("{at}: unsupported format `{format}`")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: {v} is not a valid `{format}`"))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`, checked by shape and ranges.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let num =
        |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok()).unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_shapes() {
        assert!(is_rfc3339("2024-05-01T12:34:56.789Z"));
        assert!(is_rfc3339("2024-05-01T12:34:56+02:00"));
        assert!(!is_rfc3339("2024-05-01 12:34:56Z"));
        assert!(!is_rfc3339("2024-13-01T12:34:56Z"));
        assert!(!is_rfc3339("2024-05-01T12:34:56"));
        assert!(!is_rfc3339("yesterday"));
    }

    #[test]
    fn catches_each_kind_of_mismatch() {
        let schema = json!({
            "$defs": {"P": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0}},
                             "required": ["x"], "additionalProperties": false}},
            "type": "object",
            "properties": {
                "p": {"$ref": "#/$defs/P"},
                "k": {"enum": ["a", "b"]},
                "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                "t": {"type": ["string", "null"], "format": "date-time"}
            },
            "oneOf": [{"properties": {"kind": {"const": "one"}}, "required": ["kind"]},
                      {"properties": {"kind": {"const": "two"}}, "required": ["kind"]}]
        });
        let good = json!({"p": {"x": 1}, "k": "a", "box": [0, 0, 1, 1], "t": null, "kind": "two"});
        assert_eq!(check(&schema, &good), Ok(()));
        let bad = [
            json!({"p": {"x": -1}, "kind": "one"}),
            json!({"p": {}, "kind": "one"}),
            json!({"p": {"x": 1, "y": 2}, "kind": "one"}),
            json!({"k": "c", "kind": "one"}),
            json!({"box": [0, 0, 1], "kind": "one"}),
            json!({"box": [0, 0, 1, "1"], "kind": "one"}),
            json!({"t": "now", "kind": "one"}),
            json!({"kind": "three"}),
            json!({"p": {"x": 1.5}, "kind": "one"}),
        ];
        for b in bad {
            assert!(check(&schema, &b).is_err(), "{b} passed");
        }
        assert!(
            check(&json!({"if": true}), &json!(1)).is_err(),
            "unknown keyword"
        );
    }
}
