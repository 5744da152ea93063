//! Event sinks: where events (metadata only, never pixels) leave the pipeline.

pub mod outbox;
pub mod signing;
