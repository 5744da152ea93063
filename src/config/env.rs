//! `${VAR}` and `${VAR:-default}` substitution, so secrets and hosts stay out of pipeline files.
//!
//! Substitution happens inside YAML scalars, never on the raw text: the file is tokenised first,
//! each scalar that names a variable is rebuilt with the values, and written back as one scalar
//! (plain when the result reads the same unquoted, else double-quoted with escapes). A value can
//! therefore never end a scalar early (` #` starting a comment), add keys (a newline and
//! `key: value`) or open a collection: whatever it holds, it stays exactly one scalar. Comments
//! are not scalars, so a commented-out `${UNSET}` is not an error.

use granit_parser::{Event, Parser, ScalarStyle};

/// Where an unresolvable `${...}` was found (1-based line and column of the `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// The text after substitution, and the values put in, so that messages can hide them.
#[derive(Debug, Clone, Default)]
pub struct Substituted {
    pub text: String,
    /// `(variable, value)` for every value taken from the environment (defaults excluded).
    values: Vec<(String, String)>,
}

impl Substituted {
    /// `message` with every environment value replaced by its `${NAME}`: errors and reports
    /// never show a value that came from the environment (passwords, tokens). Values shorter than
    /// four characters are hidden only when the variable's name says they are secret, so that
    /// "1" in "must be in 0..1" is not mangled by a variable that happens to hold "1".
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        let mut values: Vec<&(String, String)> = self.values.iter().collect();
        // Longest first, so a value that contains another is replaced whole.
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in values {
            if value.len() >= 4 || (!value.is_empty() && secret_name(name)) {
                out = out.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
        out
    }
}

/// Whether a variable's name says it holds a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASS", "SECRET", "TOKEN", "KEY", "CRED", "AUTH"]
        .iter()
        .any(|w| n.contains(w))
}

/// Marks a `${...}` while the YAML is tokenised: characters that are content in every scalar
/// style and context (`{` and `}` would open a flow mapping in `{host: ${HOST}}`).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// A `${...}` of the original text.
struct Reference {
    /// Byte offset of its `$` in the original text.
    offset: usize,
    /// What is between the braces.
    expr: String,
}

/// Replaces `${VAR}` and `${VAR:-default}` in every scalar of the YAML `text` using `lookup`;
/// `$${` stays as a literal `${`. A variable that is set but empty takes the default.
///
/// If the text is not valid YAML, the scalars before the syntax error are substituted and the
/// rest is left as it is, so the YAML parser reports the syntax error at its place.
pub fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Substituted, EnvError> {
    let (marked, refs) = mark(text);
    let mut out = Substituted::default();
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for item in Parser::new_from_str(&marked) {
        let Ok((event, span)) = item else { break };
        let Event::Scalar(value, style, _, _) = event else {
            continue;
        };
        if !value.contains(OPEN) && !value.contains("${") {
            continue;
        }
        let Some(range) = span.byte_range() else {
            continue;
        };
        let Some(source) = marked.get(range.clone()) else {
            continue;
        };
        if let Some(at) = unterminated(source) {
            let (line, column) = original_position(&marked, range.start + at, &refs);
            return Err(EnvError {
                line,
                column,
                message: "unterminated `${`: expected `}` on the same line".into(),
            });
        }
        let new_value = expand(&value, &refs, text, &lookup, &mut out.values)?;
        // A block scalar is replaced from its `|` or `>` header on.
        let start = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
            marked[..range.start]
                .rfind(['|', '>'])
                .unwrap_or(range.start)
        } else {
            range.start
        };
        let source = &marked[start..range.end];
        edits.push((start..range.end, render(&new_value, style, source)));
    }
    let mut result = String::with_capacity(marked.len());
    let mut last = 0;
    for (range, replacement) in edits {
        result.push_str(&marked[last..range.start]);
        result.push_str(&replacement);
        last = range.end;
    }
    result.push_str(&marked[last..]);
    // What no scalar took (comments, text past a syntax error) is put back as written.
    out.text = unmark(&result, &refs, |r| format!("${{{}}}", r.expr));
    Ok(out)
}

/// Byte offset of a `${` that no `}` closes (`$${` is an escape, not one).
fn unterminated(source: &str) -> Option<usize> {
    source
        .match_indices("${")
        .map(|(i, _)| i)
        .find(|&i| !source[..i].ends_with('$'))
}

/// 1-based line and column in the original text of byte `offset` of the marked text.
fn original_position(marked: &str, offset: usize, refs: &[Reference]) -> (u64, u64) {
    let before = &marked[..offset.min(marked.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let prefix = unmark(&before[start..], refs, |r| format!("${{{}}}", r.expr));
    (line, prefix.chars().count() as u64 + 1)
}

/// `text` with each complete `${...}` (closed on its line; `$${` excluded) replaced by a marker.
fn mark(text: &str) -> (String, Vec<Reference>) {
    let mut out = String::with_capacity(text.len());
    let mut refs = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find('$') {
        let at = i + pos;
        out.push_str(&text[i..at]);
        let after = &text[at..];
        if after.starts_with("$${") {
            out.push_str("$${");
            i = at + 3;
            continue;
        }
        let closed = after
            .strip_prefix("${")
            .and_then(|t| Some((t, t.find('}')?)))
            .filter(|(t, end)| !t[..*end].contains('\n'));
        match closed {
            Some((t, end)) => {
                out.push(OPEN);
                out.push_str(&refs.len().to_string());
                out.push(CLOSE);
                refs.push(Reference {
                    offset: at,
                    expr: t[..end].to_string(),
                });
                i = at + 2 + end + 1;
            }
            None => {
                out.push('$');
                i = at + 1;
            }
        }
    }
    out.push_str(&text[i..]);
    (out, refs)
}

/// `text` with each marker replaced by `with(reference)`.
fn unmark(text: &str, refs: &[Reference], with: impl Fn(&Reference) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(OPEN) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + OPEN.len_utf8()..];
        let Some(end) = tail.find(CLOSE) else {
            out.push_str(&rest[pos..]);
            return out;
        };
        match tail[..end].parse::<usize>().ok().and_then(|n| refs.get(n)) {
            Some(r) => out.push_str(&with(r)),
            None => out.push_str(&rest[pos..pos + OPEN.len_utf8() + end + CLOSE.len_utf8()]),
        }
        rest = &tail[end + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// A scalar's value with its markers replaced by the variables' values and `$${` by `${`.
fn expand(
    value: &str,
    refs: &[Reference],
    original: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    seen: &mut Vec<(String, String)>,
) -> Result<String, EnvError> {
    // Resolve every reference first, so the first bad one is the error.
    let mut resolved: Vec<Option<String>> = vec![None; refs.len()];
    let mut pending = value;
    while let Some(pos) = pending.find(OPEN) {
        let tail = &pending[pos + OPEN.len_utf8()..];
        let end = tail.find(CLOSE).unwrap_or(tail.len());
        if let Some(n) = tail[..end]
            .parse::<usize>()
            .ok()
            .filter(|n| *n < refs.len())
        {
            resolved[n] = Some(resolve(&refs[n], original, lookup, seen)?);
        }
        pending = tail.get(end + CLOSE.len_utf8()..).unwrap_or("");
    }
    let value = value.replace("$${", "${");
    Ok(unmark(&value, refs, |r| {
        refs.iter()
            .position(|x| std::ptr::eq(x, r))
            .and_then(|n| resolved[n].clone())
            .unwrap_or_default()
    }))
}

/// The value of one `${...}`: the variable's, or its default.
fn resolve(
    r: &Reference,
    original: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    seen: &mut Vec<(String, String)>,
) -> Result<String, EnvError> {
    let err = |message: String| {
        let (line, column) = position(original, r.offset);
        EnvError {
            line,
            column,
            message,
        }
    };
    let expr = r.expr.as_str();
    let (name, default) = match expr.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (expr, None),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err(format!(
            "`${{{expr}}}`: `{name}` is not a valid variable name"
        )));
    }
    match (lookup(name).filter(|v| !v.is_empty()), default) {
        (Some(v), _) => {
            seen.push((name.to_string(), v.clone()));
            Ok(v)
        }
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(err(format!(
            "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
        ))),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

/// The scalar `value` written back in place of `source`, the text it had.
///
/// A plain scalar stays plain when the new text reads the same unquoted (so `port: ${PORT}`
/// is still a number); anything else is double-quoted, keeping the number of lines (and the
/// indentation of continuation lines) so that positions of later errors do not move.
fn render(value: &str, style: ScalarStyle, source: &str) -> String {
    let body = source.trim_end_matches(['\n', '\r', ' ', '\t']);
    let trailing = &source[body.len()..];
    let lines = body.matches('\n').count();
    if style == ScalarStyle::Plain && lines == 0 && plain_safe(value) {
        return format!("{value}{trailing}");
    }
    let indent: String = body
        .split('\n')
        .nth(1)
        .map(|l| l.chars().take_while(|c| *c == ' ').collect())
        .unwrap_or_default();
    let mut out = String::with_capacity(value.len() + 2 + (indent.len() + 2) * lines);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    // An escaped line break (`\` at the end of a line) adds nothing to the value.
    for _ in 0..lines {
        out.push_str("\\\n");
        out.push_str(&indent);
    }
    out.push('"');
    out.push_str(trailing);
    out
}

/// Whether `value` reads back as the same single plain scalar in any position of a block or
/// flow collection: empty (a null, as `${VAR:-}` has always meant), or made only of characters
/// that cannot end, quote, comment or nest anything, not starting with an indicator.
fn plain_safe(value: &str) -> bool {
    value.is_empty()
        || (value.starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.'))
            && value.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, '_' | '.' | '/' | ':' | '@' | '%' | '+' | '=' | '~' | '-')
            })
            && !value.ends_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.5".into()),
            "EMPTY" => Some(String::new()),
            "PASS" => Some("se #cret".into()),
            "EVIL" => Some("x\nmetrics:\n  listen: 0.0.0.0:9464".into()),
            "QUOTE" => Some("a\"b\\c'd".into()),
            _ => None,
        }
    }

    fn sub(text: &str) -> String {
        substitute(text, env).unwrap().text
    }

    #[test]
    fn substitutes_set_and_default() {
        assert_eq!(
            sub("a: ${HOST}\nb: ${PORT:-1883}\n"),
            "a: 10.0.0.5\nb: 1883\n"
        );
    }

    #[test]
    fn empty_variable_takes_default() {
        assert_eq!(sub("x: ${EMPTY:-d}"), "x: d");
        assert_eq!(sub("x: ${EMPTY:-}"), "x: ");
    }

    #[test]
    fn missing_variable_names_line_and_column() {
        let e = substitute("a: 1\nurl: rtsp://${USER_X}@cam\n", env).unwrap_err();
        assert_eq!((e.line, e.column), (2, 13));
        assert!(e.message.contains("USER_X"), "{}", e.message);
    }

    #[test]
    fn escaped_and_lone_dollars_are_kept() {
        assert_eq!(sub("p: $${HOST} costs $5"), "p: \"${HOST} costs $5\"");
        assert_eq!(sub("p: costs $5"), "p: costs $5");
    }

    #[test]
    fn comments_are_not_substituted() {
        assert_eq!(
            sub("# ${NOPE}\na: 1 # ${NOPE}\n"),
            "# ${NOPE}\na: 1 # ${NOPE}\n"
        );
    }

    #[test]
    fn unterminated_and_bad_names_are_errors() {
        let e = substitute("a: ${HOST", env).unwrap_err();
        assert!(e.message.contains("unterminated"), "{}", e.message);
        let e = substitute("a: 1\nb: x${BAD-NAME}\n", env).unwrap_err();
        assert_eq!((e.line, e.column), (2, 5));
        assert!(
            e.message.contains("not a valid variable name"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_value_is_always_one_scalar() {
        // A ` #` would start a comment, a newline new keys: both stay inside the scalar.
        let s = sub("cameras:\n  - source: rtsp://u:${PASS}@h/x\n    name: a\n");
        assert_eq!(
            s,
            "cameras:\n  - source: \"rtsp://u:se #cret@h/x\"\n    name: a\n"
        );
        let s = sub("password: ${EVIL}\n");
        assert_eq!(s, "password: \"x\\nmetrics:\\n  listen: 0.0.0.0:9464\"\n");
        let s = sub("{a: ${QUOTE}, b: '${HOST}'}");
        assert_eq!(s, "{a: \"a\\\"b\\\\c'd\", b: \"10.0.0.5\"}");
    }

    #[test]
    fn multi_line_scalars_keep_their_line_count() {
        let text = "a: |\n  one ${HOST}\n  two\nb: 1\nc:\n  d: x ${HOST}\n    y\n";
        let s = sub(text);
        assert_eq!(
            s,
            "a: \"one 10.0.0.5\\ntwo\\n\\\n  \\\n  \"\nb: 1\nc:\n  d: \"x 10.0.0.5 y\\\n    \"\n"
        );
        assert_eq!(s.lines().count(), text.lines().count());
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct C {
            d: String,
        }
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct T {
            a: String,
            b: u32,
            c: C,
        }
        let t: T = serde_saphyr::from_str(&s).unwrap();
        assert_eq!(t.a, "one 10.0.0.5\ntwo\n");
        assert_eq!(t.b, 1);
        assert_eq!(t.c.d, "x 10.0.0.5 y");
    }

    #[test]
    fn scrub_hides_values() {
        let s = substitute("a: ${PASS}\nb: ${HOST}\n", env).unwrap();
        assert_eq!(
            s.scrub("bad `se #cret` at 10.0.0.5"),
            "bad `${PASS}` at ${HOST}"
        );
    }
}
