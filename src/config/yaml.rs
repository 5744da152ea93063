//! YAML into typed configuration, with parser and type errors turned into positioned, readable
//! [`ConfigError`]s.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::error::humanize;

/// Parses YAML into `T`, turning parser and type errors into positioned [`ConfigError`]s.
pub fn parse_yaml<T: for<'de> Deserialize<'de>>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let token = token_at(text, line, column);
        ConfigError::at(path, line, column, humanize(&yaml_message(&e), token))
    })
}

/// The error text without the position the library appends (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let msg = full.lines().next().unwrap_or(&full).trim();
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    msg.trim_end_matches('.').to_string()
}

/// The scalar that starts at `line:column` (1-based), for messages like "got `big`".
fn token_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let start = l
        .char_indices()
        .nth(usize::try_from(column).ok()?.checked_sub(1)?)?
        .0;
    let tok = l[start..].split(" #").next()?.trim();
    (!tok.is_empty()).then_some(tok)
}
