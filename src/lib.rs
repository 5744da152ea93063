//! lookout: on-device, real-time video analytics for smart and security cameras.
//!
//! One folder per stage. Dependencies between folders point one way: a folder may use only the
//! folders on the lines above its own, never one on its own line or below (`tests/layers.rs`
//! reads this list and every `crate::` path in `src/`, and fails on an upward import).
//!
//! 1. [`config`], [`geometry`]: the leaves: positioned errors, YAML, `${VAR}`, names, "did you
//!    mean", retry policy; points, polygons and segments.
//! 2. [`events`], [`metrics`]: what leaves the device; the Prometheus registry.
//! 3. [`capture`]: GStreamer sources, frames, pooled buffers, queues.
//! 4. [`motion`]: where something moves in a camera's picture, to detect only there.
//! 5. [`infer`]: ONNX IR, wgpu compute shaders, the CPU backends, pre-processing, int8 QDQ.
//! 6. [`detect`]: decoders of raw model outputs, NMS, drawing.
//! 7. [`model`]: manifests, the `models:` section, backend choice, the detector.
//! 8. [`schedule`]: which frames are detected, batching across cameras.
//! 9. [`track`]: multi-object tracking.
//! 10. [`rules`]: zones, lines, loitering, occupancy, filters, masks.
//! 11. [`sinks`]: where events go (stdout, file, webhook, MQTT), durable outboxes.
//! 12. [`privacy`]: redaction, stored media, the egress guard.
//! 13. [`ui`]: the local page: live metadata, heat maps, drawn shapes written into the file.
//! 14. [`pipeline`]: the pipeline file, its validation, the per-camera bundle, the audit.
//! 15. [`runtime`]: running a pipeline, analytics, benchmarks of the whole pipeline.
//!
//! The binary's `cli` sits above them all. Each component's configuration lives beside it; the
//! pipeline assembles them.

pub mod capture;
pub mod config;
pub mod detect;
pub mod events;
pub mod geometry;
pub mod infer;
pub mod metrics;
pub mod model;
pub mod motion;
pub mod pipeline;
pub mod privacy;
pub mod rules;
pub mod runtime;
pub mod schedule;
pub mod sinks;
pub mod track;
pub mod ui;
