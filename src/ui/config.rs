//! The `ui:` section of a pipeline file: where the page is served and whether it may show
//! redacted stills.

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
    /// Show a redacted still of each camera with a face model behind the live view (faces and
    /// masks hidden as for stored media; nothing when redaction fails), to browsers on this
    /// machine only. Default false: the page shows metadata only.
    #[serde(default = "no")]
    #[schemars(with = "bool")]
    pub stills: Spanned<bool>,
}

fn no() -> Spanned<bool> {
    Spanned::new(
        false,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
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
    /// Redacted stills, for loopback clients only.
    pub stills: bool,
}

impl UiConfig {
    /// Checks the address, and that stills have a camera able to redact them
    /// (`redacting_cameras`: cameras with a face model). `None` when the page is off.
    pub fn validate(
        &self,
        file: &Path,
        redacting_cameras: usize,
    ) -> Result<Option<UiSpec>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let listen = crate::config::listen_addr(file, &self.listen, DEFAULT_LISTEN)?;
        if self.stills.value && redacting_cameras == 0 {
            return Err(ConfigError::spanned(
                file,
                &self.stills,
                "`ui.stills` needs a camera with a face model (`privacy: {faces: <model>}`): \
                 stills are redacted like stored media, or not shown",
            ));
        }
        Ok(Some(UiSpec {
            listen,
            stills: self.stills.value,
        }))
    }
}
