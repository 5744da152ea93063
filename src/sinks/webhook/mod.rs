//! The `webhook` sink: each event POSTed as JSON, signed per Standard Webhooks.
//!
//! 2xx is delivered; 408, 429, 5xx and network errors are retried; any other 4xx is a permanent
//! rejection (the receiver said the request itself is wrong; sending it again cannot help).

pub mod config;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sinks::durable::{Deliver, Delivery};
use crate::sinks::signing::SigningKey;

/// Delivers events over HTTP.
pub struct WebhookDeliverer {
    agent: ureq::Agent,
    url: String,
    key: Option<SigningKey>,
    headers: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

impl WebhookDeliverer {
    /// A deliverer POSTing to `url` with a per-request `timeout`.
    pub fn new(
        url: &str,
        key: Option<SigningKey>,
        headers: BTreeMap<String, String>,
        timeout: Duration,
    ) -> Self {
        let builder = ureq::Agent::config_builder();
        #[cfg(feature = "tls")]
        let builder = builder.tls_config(
            ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::NativeTls)
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        );
        let agent = builder
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            url: url.to_string(),
            key,
            headers,
        }
    }
}

/// How an HTTP status is handled.
pub fn classify(status: u16) -> Delivery {
    match status {
        200..=299 => Delivery::Delivered,
        408 | 429 => Delivery::Retry(format!("HTTP {status}")),
        400..=499 => Delivery::Rejected(format!("HTTP {status}")),
        _ => Delivery::Retry(format!("HTTP {status}")),
    }
}

impl Deliver for WebhookDeliverer {
    fn deliver(&mut self, seq: u64, payload: &[u8]) -> Delivery {
        // The event id is the message id: the same across retries, so receivers can deduplicate.
        let msg_id = serde_json::from_slice::<IdOnly>(payload)
            .map(|e| e.id)
            .unwrap_or_else(|_| format!("outbox-{seq}"));
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            req = req.header("webhook-signature", key.sign(&msg_id, timestamp, payload));
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        match req.send(payload) {
            Ok(resp) => classify(resp.status().as_u16()),
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(classify(204), Delivery::Delivered);
        assert!(matches!(classify(400), Delivery::Rejected(_)));
        assert!(matches!(classify(404), Delivery::Rejected(_)));
        assert!(matches!(classify(429), Delivery::Retry(_)));
        assert!(matches!(classify(503), Delivery::Retry(_)));
    }
}
