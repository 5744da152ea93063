//! lookout: on-device, real-time video analytics for smart and security cameras.
//!
//! Stages, one module each: [`config`] (pipeline files), [`capture`] (GStreamer), [`schedule`]
//! (which frames are detected, batching), [`infer`] (wgpu compute shaders and the CPU fallback),
//! [`detect`] (decoders, NMS), [`track`] (multi-object tracking), [`rules`] (zones, lines,
//! loitering, occupancy), [`events`] (what leaves the device), [`sinks`] (where it goes),
//! [`privacy`] (redaction, stored media, the egress guard and audit), [`metrics`] (Prometheus)
//! and [`runtime`] (running a pipeline).

pub mod capture;
pub mod config;
pub mod detect;
pub mod events;
pub mod infer;
pub mod metrics;
pub mod privacy;
pub mod rules;
pub mod runtime;
pub mod schedule;
pub mod sinks;
pub mod track;
