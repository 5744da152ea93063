//! Per-sink metric handles, resolved once per sink.

use prometheus::{Gauge, Histogram, IntCounter, IntCounterVec, IntGauge};

use crate::metrics::Metrics;

/// The metrics of one sink.
#[derive(Clone)]
pub struct SinkMetrics {
    deliveries: IntCounterVec,
    sink: String,
    pub retries: IntCounter,
    pub outbox_events: IntGauge,
    pub outbox_bytes: IntGauge,
    pub outbox_dropped: IntCounter,
    /// Unix time of the oldest undelivered event (0 when none).
    pub outbox_oldest: Gauge,
    pub queue_dropped: IntCounter,
    pub latency: Histogram,
    pub up: IntGauge,
    pub egress_events: IntCounter,
    pub egress_bytes: IntCounter,
}

impl SinkMetrics {
    /// Handles for sink `sink`.
    pub fn new(m: &Metrics, sink: &str) -> Self {
        Self {
            deliveries: m.sink_deliveries.clone(),
            sink: sink.to_string(),
            retries: m.sink_retries.with_label_values(&[sink]),
            outbox_events: m.outbox_events.with_label_values(&[sink]),
            outbox_bytes: m.outbox_bytes.with_label_values(&[sink]),
            outbox_dropped: m.outbox_dropped.with_label_values(&[sink]),
            outbox_oldest: m.outbox_oldest.with_label_values(&[sink]),
            queue_dropped: m.sink_queue_dropped.with_label_values(&[sink]),
            latency: m.sink_delivery_seconds.with_label_values(&[sink]),
            up: m.sink_up.with_label_values(&[sink]),
            egress_events: m.egress_events.with_label_values(&[sink]),
            egress_bytes: m.egress_bytes.with_label_values(&[sink]),
        }
    }

    /// The deliveries counter for `result` (`delivered`, `rejected`, `failed`, ...).
    pub fn result(&self, result: &str) -> IntCounter {
        self.deliveries.with_label_values(&[&self.sink, result])
    }
}
