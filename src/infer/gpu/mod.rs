//! The wgpu backend: context, dispatch emission, static plans.

pub mod context;
mod emit;
pub mod layout;
pub mod plan;
pub mod shader;

pub use context::{AdapterChoice, AdapterSummary, GpuContext, list_adapters};
pub use plan::{KernelProfile, Plan};
pub use shader::Prec as Precision;
mod backend;
pub mod motion;
mod preprocess;

pub use backend::{ModelOptions, WgpuBackend, plan_batches};
