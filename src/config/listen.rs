//! Listen addresses of the endpoints lookout serves (`metrics.listen`, `ui.listen`), checked
//! with their position in the file.

use std::net::SocketAddr;
use std::path::Path;

use serde_saphyr::Spanned;

use super::ConfigError;

/// `listen` as a socket address, or an error at its position naming `example`.
pub fn listen_addr(
    file: &Path,
    listen: &Spanned<String>,
    example: &str,
) -> Result<SocketAddr, ConfigError> {
    listen.value.parse::<SocketAddr>().map_err(|e| {
        ConfigError::spanned(
            file,
            listen,
            format!(
                "`{}` is not a listen address like {example}: {e}",
                listen.value
            ),
        )
    })
}
