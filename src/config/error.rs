//! Configuration errors that point at the exact place in the pipeline file.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a pipeline file, shown as `file:line:column: message`; the CLI exits 2 on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read).
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    pub message: String,
}

impl ConfigError {
    /// An error at a known position.
    pub fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: line.max(1),
            column: column.max(1),
            message: message.into(),
        }
    }

    /// An error at the position of a spanned value.
    pub fn spanned<T>(
        file: &Path,
        value: &serde_saphyr::Spanned<T>,
        message: impl Into<String>,
    ) -> Self {
        let loc = value.referenced;
        Self::at(file, loc.line(), loc.column(), message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line.max(1),
            self.column.max(1),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Rewrites parser messages for people: names what was expected and what was found, and adds
/// "did you mean" to unknown keys and values.
pub(crate) fn humanize(message: &str, token: Option<&str>) -> String {
    let got = token.map(|t| format!(", got `{t}`")).unwrap_or_default();
    let kind = match message {
        "invalid u8" | "invalid u16" | "invalid u32" | "invalid u64" | "invalid usize" => {
            Some("a whole number (0 or more)")
        }
        "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64" => Some("a whole number"),
        "invalid f32" | "invalid f64" => Some("a number"),
        "invalid bool" => Some("true or false"),
        "expected string scalar" => Some("a single value (text)"),
        "expected sequence start" => Some("a list (`- item` lines or `[a, b]`)"),
        "expected mapping start" => Some("a mapping (`key: value` lines)"),
        _ => None,
    };
    match kind {
        Some(k) => format!("expected {k}{got}"),
        None => super::suggest::suggest(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizes_type_errors() {
        assert_eq!(
            humanize("invalid u32", Some("big")),
            "expected a whole number (0 or more), got `big`"
        );
        assert_eq!(
            humanize("expected mapping start", None),
            "expected a mapping (`key: value` lines)"
        );
    }

    #[test]
    fn display_has_position() {
        let e = ConfigError::at(Path::new("p.yaml"), 3, 7, "bad");
        assert_eq!(e.to_string(), "p.yaml:3:7: bad");
    }
}
