//! The identity of this box: the `device:` section of a pipeline file. Every event carries it
//! (`device`, `site`), and so do MQTT topics, Home Assistant devices, NATS subjects and
//! `lookout_device_info` in `/metrics`, so that the events of many boxes can be told apart.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::config::{ConfigError, check_name};

/// The `device:` section, as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Name of this box, unique within its site (letters, digits, `_`, `-`); default: the host
    /// name up to its first dot, other characters replaced by `-`.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The site (building, shop, campus) the box belongs to (default `default`).
    #[schemars(with = "Option<String>")]
    pub site: Option<Spanned<String>>,
}

/// Who sends the events: this box and its site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub name: String,
    pub site: String,
}

/// The site of a box whose file names none.
pub const DEFAULT_SITE: &str = "default";

impl Default for Device {
    /// This host, in the default site.
    fn default() -> Self {
        Self {
            name: host_name(),
            site: DEFAULT_SITE.into(),
        }
    }
}

impl DeviceConfig {
    /// Checks the names (they become MQTT topic levels and NATS subject tokens) and applies the
    /// defaults.
    pub fn validate(&self, file: &Path) -> Result<Device, ConfigError> {
        let check =
            |kind: &str, v: &Option<Spanned<String>>| -> Result<Option<String>, ConfigError> {
                match v {
                    None => Ok(None),
                    Some(s) => check_name(kind, &s.value)
                        .map(|()| Some(s.value.clone()))
                        .map_err(|m| ConfigError::spanned(file, s, m)),
                }
            };
        let d = Device::default();
        Ok(Device {
            name: check("device", &self.name)?.unwrap_or(d.name),
            site: check("site", &self.site)?.unwrap_or(d.site),
        })
    }
}

/// This machine's host name as a device name: up to the first dot, characters other than ASCII
/// letters, digits, `_` and `-` replaced by `-`; `lookout` when there is none.
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    device_name_from_host(&raw)
}

fn device_name_from_host(raw: &str) -> String {
    let first = raw.trim().split('.').next().unwrap_or("");
    let name: String = first
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "lookout".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_become_device_names() {
        assert_eq!(device_name_from_host("cam-box-1\n"), "cam-box-1");
        assert_eq!(
            device_name_from_host("ip-10-0-0-7.ec2.internal"),
            "ip-10-0-0-7"
        );
        assert_eq!(device_name_from_host("Büro PC"), "B-ro-PC");
        assert_eq!(device_name_from_host(""), "lookout");
        assert!(check_name("device", &host_name()).is_ok());
    }

    #[test]
    fn names_are_checked() {
        let file = Path::new("p.yaml");
        let cfg: DeviceConfig = serde_saphyr::from_str("{name: shop.front, site: oslo}").unwrap();
        let e = cfg.validate(file).unwrap_err();
        assert!(e.message.contains("device name `shop.front`"), "{e}");
        let cfg: DeviceConfig = serde_saphyr::from_str("{site: oslo}").unwrap();
        let d = cfg.validate(file).unwrap();
        assert_eq!((d.name, d.site.as_str()), (host_name(), "oslo"));
        let d = DeviceConfig::default().validate(file).unwrap();
        assert_eq!(d.site, DEFAULT_SITE);
    }
}
