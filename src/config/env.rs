//! `${VAR}` and `${VAR:-default}` substitution, so secrets and hosts stay out of pipeline files.

/// Where an unresolvable `${...}` was found (1-based line and column of the `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Replaces `${VAR}` and `${VAR:-default}` using `lookup`; `$${` stays as a literal `${`.
///
/// Substitution happens on the text before parsing, so a value can fill any scalar. Comment lines are
/// left alone, so a commented-out `${UNSET}` is not an error.
pub fn substitute(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col_base = 0usize;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            let column = (col_base + line_chars(&rest[..pos]) + 1) as u64;
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                col_base += line_chars(&rest[..pos]) + 3;
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let err = |message: String| EnvError {
                    line: lineno as u64 + 1,
                    column,
                    message,
                };
                let end = tail
                    .find('}')
                    .ok_or_else(|| err("unterminated `${`: expected `}`".into()))?;
                let expr = &tail[..end];
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
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {
                        return Err(err(format!(
                            "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                        )));
                    }
                }
                col_base += line_chars(&rest[..pos]) + 2 + line_chars(expr) + 1;
                rest = &tail[end + 1..];
            } else {
                out.push('$');
                col_base += line_chars(&rest[..pos]) + 1;
                rest = &after[1..];
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn line_chars(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.5".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_set_and_default() {
        let s = substitute("a: ${HOST}\nb: ${PORT:-1883}\n", env).unwrap();
        assert_eq!(s, "a: 10.0.0.5\nb: 1883\n");
    }

    #[test]
    fn empty_variable_takes_default() {
        assert_eq!(substitute("x: ${EMPTY:-d}", env).unwrap(), "x: d");
    }

    #[test]
    fn missing_variable_names_line_and_column() {
        let e = substitute("a: 1\nurl: rtsp://${USER_X}@cam\n", env).unwrap_err();
        assert_eq!((e.line, e.column), (2, 13));
        assert!(e.message.contains("USER_X"), "{}", e.message);
    }

    #[test]
    fn escaped_and_lone_dollars_are_kept() {
        assert_eq!(
            substitute("p: $${HOST} costs $5", env).unwrap(),
            "p: ${HOST} costs $5"
        );
    }

    #[test]
    fn comments_are_not_substituted() {
        assert_eq!(substitute("# ${NOPE}\n", env).unwrap(), "# ${NOPE}\n");
    }

    #[test]
    fn unterminated_is_an_error() {
        assert!(substitute("a: ${HOST", env).is_err());
    }
}
