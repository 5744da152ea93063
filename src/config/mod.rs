//! The bottom layer every component's configuration is written with: positioned errors
//! ([`ConfigError`]), YAML parsing, `${VAR}` substitution, name checks, "did you mean"
//! suggestions, the retry policy and credential redaction. It imports nothing of the crate.

pub mod env;
pub mod error;
pub mod listen;
pub mod names;
pub mod ranges;
pub mod redact;
pub mod retry;
pub mod suggest;
pub mod yaml;

pub use error::ConfigError;
pub use listen::listen_addr;
pub use names::check_name;
pub use redact::redact_userinfo;
pub use retry::{Backoff, RetryConfig};
pub use suggest::{closest, did_you_mean};
pub use yaml::parse_yaml;
