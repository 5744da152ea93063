//! The `ui:` section of a pipeline file: where the page is served.

use std::net::SocketAddr;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::ConfigError;

/// Where the page listens when `ui:` does not say: this machine only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9465";

/// The `ui:` section as written; its presence turns the page on.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Serve the page (default true when the section is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Listen address, default `127.0.0.1:9465` (this machine only); another host's browser
    /// needs e.g. `0.0.0.0:9465`, and `lookout audit` lists it.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: Spanned<String>,
}

fn yes() -> bool {
    true
}

fn default_listen() -> Spanned<String> {
    Spanned::new(
        DEFAULT_LISTEN.to_string(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

/// The page's settings after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSpec {
    pub listen: SocketAddr,
}

impl UiConfig {
    /// Checks the address. `None` when the page is off.
    pub fn validate(&self, file: &Path) -> Result<Option<UiSpec>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let listen = self.listen.value.parse::<SocketAddr>().map_err(|e| {
            ConfigError::spanned(
                file,
                &self.listen,
                format!(
                    "`{}` is not a listen address like {DEFAULT_LISTEN}: {e}",
                    self.listen.value
                ),
            )
        })?;
        Ok(Some(UiSpec { listen }))
    }
}
