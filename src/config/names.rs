//! Names of cameras, models, zones, lines and sinks: they end up in events, metric labels, MQTT
//! topics and folder names, so one rule says what a name may contain and that it is unique.

use std::collections::HashMap;
use std::path::Path;

use serde_saphyr::Spanned;

use super::ConfigError;

/// Checks that `name` is non-empty and uses only ASCII letters, digits, `_` and `-`; the error
/// says which kind of name (`camera`, `zone`, ...) it was.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} name `{name}` must be non-empty and use only letters, digits, `_` and `-`"
        ))
    }
}

/// The names of one section seen so far, so that a second use points back at the first.
#[derive(Debug, Default)]
pub struct UniqueNames {
    seen: HashMap<String, u64>,
}

impl UniqueNames {
    /// Checks `name` with [`check_name`] and that it was not used before in this section.
    pub fn add(
        &mut self,
        file: &Path,
        kind: &str,
        name: &Spanned<String>,
    ) -> Result<(), ConfigError> {
        let n = name.value.as_str();
        check_name(kind, n).map_err(|m| ConfigError::spanned(file, name, m))?;
        if let Some(first) = self.seen.insert(n.to_string(), name.referenced.line()) {
            return Err(ConfigError::spanned(
                file,
                name,
                format!("{kind} name `{n}` is used twice (first on line {first})"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(check_name("camera", "door-1_a").is_ok());
        let e = check_name("zone", "front door").unwrap_err();
        assert!(e.starts_with("zone name `front door` must"), "{e}");
        assert!(check_name("camera", "").is_err());
        assert!(check_name("camera", "caméra").is_err());
    }
}
