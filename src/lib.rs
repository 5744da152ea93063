//! lookout: on-device, real-time video analytics for smart and security cameras.
//!
//! Stages, one module each: [`config`] (pipeline files), [`capture`] (GStreamer), [`infer`] (wgpu
//! compute shaders and the CPU fallback), [`detect`] (decoders, NMS), [`metrics`] (Prometheus).

pub mod capture;
pub mod config;
pub mod detect;
pub mod events;
pub mod infer;
pub mod metrics;
pub mod rules;
pub mod track;
